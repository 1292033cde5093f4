//! The catalog: domains, products, ports, contracts, versions, runs, checks, lineage and
//! search.

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

use crate::state::Shared;

pub(super) fn routes() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::new()
}
