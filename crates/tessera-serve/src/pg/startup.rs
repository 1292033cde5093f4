//! Logging in: the user name is the principal, the password a Tessera token of that
//! principal, sent in clear (cleartext password authentication).
//!
//! ```text
//!  Startup {user, database, options} ─▶ AuthenticationCleartextPassword
//!  Password(token) ─▶ Authenticator ─▶ Caller ─▶ same principal as the user name?
//!                  ─▶ purpose (options `-c tessera.purpose=…`) allowed by the token?
//!                  ─▶ AuthenticationOk, ParameterStatus…, BackendKeyData, ReadyForQuery
//! ```
//!
//! Why cleartext: MD5 and SCRAM prove knowledge of a password the server holds in clear
//! (or a verifier derived from it); Tessera keeps only SHA-256 hashes of its random
//! tokens, which neither mechanism can check. The connection is not encrypted (no TLS):
//! serve PostgreSQL on loopback, or behind a TLS-terminating proxy.
//!
//! With `server.anonymous` set, a client that logs in as that principal is not asked for
//! a password, and an empty password acts as it too.

use std::fmt::Debug;

use async_trait::async_trait;
use datafusion_postgres::pgwire::api::auth::{
    StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionGuard, ConnectionHandle, METADATA_USER, PgWireConnectionState,
    PidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use std::sync::Arc;

use super::backend::Backend;
use super::statement::PURPOSE;
use crate::auth::AuthError;
use crate::error::{ErrorKind, ServeError};

/// A refusal that ends the connection.
pub(super) fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "FATAL".into(),
        code.into(),
        message.into(),
    )))
}

fn fatal_serve(e: &ServeError) -> PgWireError {
    fatal(e.kind.sqlstate(), e.message.clone())
}

/// The settings in a startup `options` string (`-c name=value`, `-cname=value`,
/// `--name=value`; a backslash keeps the next character, spaces included). Names are
/// lower-cased, as PostgreSQL's are.
pub(super) fn option_settings(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut escaped = false;
    for ch in options.chars() {
        if escaped {
            word.push(ch);
            escaped = false;
        } else if ch == '\\' {
            escaped = true;
        } else if ch.is_whitespace() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
        } else {
            word.push(ch);
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        let setting = match w.as_str() {
            "-c" => words.next(),
            _ => w
                .strip_prefix("--")
                .or_else(|| w.strip_prefix("-c"))
                .map(str::to_string),
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            settings.push((name.to_ascii_lowercase(), value.to_string()));
        }
    }
    settings
}

/// The purpose the client asked for at startup: a `tessera.purpose` startup parameter
/// (asyncpg's `server_settings`, JDBC's `options`) or `-c tessera.purpose=…` in
/// `options` (libpq's `options=` / `PGOPTIONS`).
fn startup_purpose(client: &impl ClientInfo) -> Option<String> {
    let metadata = client.metadata();
    metadata
        .get(PURPOSE)
        .cloned()
        .or_else(|| {
            metadata.get("options").and_then(|o| {
                option_settings(o)
                    .into_iter()
                    .rev()
                    .find(|(name, _)| name == PURPOSE)
                    .map(|(_, value)| value)
            })
        })
        .filter(|p| !p.trim().is_empty())
}

impl Backend {
    /// Checks the credentials and the purpose; on success the connection acts as the
    /// caller from now on.
    async fn log_in<C>(&self, client: &mut C, password: Option<&str>) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let user = client
            .metadata()
            .get(METADATA_USER)
            .cloned()
            .unwrap_or_default();
        let caller = match self.shared().auth.authenticate(password).await {
            Ok(caller) => caller,
            Err(AuthError::Store(detail)) => {
                return Err(fatal_serve(&ServeError::internal(detail)));
            }
            Err(e) => return Err(fatal(ErrorKind::Unauthenticated.sqlstate(), e.to_string())),
        };
        if caller.principal != user {
            let message = match caller.token_id {
                Some(_) => format!(
                    "the token belongs to another principal, not to `{user}`: log in with the \
                     user name of the token's principal, or with a token of `{user}`"
                ),
                None => format!(
                    "without a token you may log in only as the anonymous principal `{}`",
                    caller.principal
                ),
            };
            // invalid_authorization_specification
            return Err(fatal("28000", message));
        }
        let purpose = startup_purpose(client);
        if purpose.is_some() {
            // A purpose the token does not allow (or policy does not know) ends the login
            // here, rather than at the first query.
            self.shared()
                .session(&caller, purpose.as_deref(), super::INTERFACE)
                .map_err(|e| fatal_serve(&e))?;
        }
        tracing::info!(
            principal = %caller.principal,
            purpose = purpose.as_deref().unwrap_or(""),
            client = %client.socket_addr(),
            "PostgreSQL login"
        );
        let token = caller
            .token_id
            .is_some()
            .then(|| password.unwrap_or_default().to_string());
        self.logged_in(caller, token, purpose);

        let (pid, secret_key) = self.server.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        let (handle, guard) = self.server.cancels.register(pid, secret_key);
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert::<ConnectionGuard>(guard);
        finish_authentication(client, &self.server.parameters).await
    }
}

#[async_trait]
impl StartupHandler for Backend {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                if let Some(e) = &self.refused {
                    return Err(fatal_serve(e));
                }
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let anonymous = self.shared().settings.anonymous.as_deref();
                if anonymous.is_some()
                    && client.metadata().get(METADATA_USER).map(String::as_str) == anonymous
                {
                    self.log_in(client, None).await?;
                } else {
                    client
                        .send(PgWireBackendMessage::Authentication(
                            Authentication::CleartextPassword,
                        ))
                        .await?;
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(password) => {
                let password = password.into_password()?;
                self.log_in(client, Some(&password.password)).await?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_carry_settings_as_libpq_and_pgoptions_write_them() {
        assert_eq!(
            option_settings("-c tessera.purpose=analytics"),
            [("tessera.purpose".to_string(), "analytics".to_string())]
        );
        assert_eq!(
            option_settings("-cTessera.Purpose=a\\ b  --search_path=x -c statement_timeout=0"),
            [
                ("tessera.purpose".to_string(), "a b".to_string()),
                ("search_path".to_string(), "x".to_string()),
                ("statement_timeout".to_string(), "0".to_string()),
            ]
        );
        assert!(option_settings("-c").is_empty());
    }
}
