//! The command line: every command, flag and example a user sees in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Tessera: a data mesh in one binary.

Domain teams publish data products (ODPS v1) with contracts (ODCS v3); Tessera checks
them, stores them as Delta Lake tables and serves them through SQL and open protocols,
with one set of governance policies on every path.";

const EXAMPLES: &str = "Examples:
  tessera demo                          Generate the marketing demo mesh with data and publish it
  tessera init my-mesh                  Start a mesh with an example domain and product
  cd my-mesh && tessera validate        Check every file of the mesh
  tessera new product web/events        Scaffold a product: descriptor, contract, SQL
  tessera publish                       Build, check and publish every product that changed
  tessera runs                          What ran, with status, rows and checks

Exit codes: 0 success, 1 invalid input (validation found errors), 2 usage or I/O error.";

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new mesh: mesh.yaml, policies/, an example domain, source and product.
    #[command(after_help = "Examples:
  tessera init my-mesh
  tessera init my-mesh --name acme-marketing --owner ada@example.com

The folder must not exist or be empty. Nothing is written if any file cannot be.")]
    Init(InitArgs),

    /// Scaffold part of a mesh.
    #[command(subcommand)]
    New(NewCommand),

    /// Check a mesh, a product folder, or one file; report every problem with its location.
    #[command(after_help = "Examples:
  tessera validate                                   The mesh around the current folder
  tessera validate my-mesh                           A mesh by its root folder
  tessera validate domains/crm/customers             One product (and how it fits the mesh)
  tessera validate domains/crm/customers/customers.odcs.yaml   One contract
  tessera validate --format json > findings.json     For CI

Checks run in layers and report everything at once: YAML syntax; structure against
ODCS v3 / ODPS v1 (unknown or misspelt keys, wrong types, missing fields); meaning
(unique ids, inputs that resolve, no cycles, valid names, each output port has its
contract and SQL, the SQL parses and reads only the product's inputs).

Exit codes: 0 valid (warnings allowed), 1 invalid, 2 usage or I/O error.")]
    Validate(ValidateArgs),

    /// Build products (and the upstream products they need) into candidates; publish nothing.
    #[command(after_help = "Examples:
  tessera build                          Every product that changed since its last publish
  tessera build crm/customers            One product (and its stale upstream products first)
  tessera build marketing/customer_360 --force   Rebuild even if nothing changed

A build runs each output port's SQL over the product's inputs (source files, and other
products' published ports — or the candidates built in the same run) and keeps the result
as a candidate in .tessera/candidates/, for `tessera test`. A product whose inputs, SQL and
contract have not changed since its last good publish is skipped.

Exit codes: 0 every product built or skipped, 1 a build failed, 2 usage or I/O error.")]
    Build(RunArgs),

    /// Check candidates or published versions against their contracts, or one contract file.
    #[command(after_help = "Examples:
  tessera test                           Every product's candidate (after tessera build)
  tessera test crm/customers --published The version consumers see now
  tessera test orders.odcs.yaml          A standalone contract and its servers' data, like `datacontract test`

Each check is listed with its measured value and expectation; failures show how many rows
broke the rule and up to 10 of them. Checks: the schema (columns and types), required,
unique, primary keys, logicalTypeOptions (minimum, maximum, lengths, pattern, format),
and quality rules (nullValues, missingValues, invalidValues, duplicateValues, rowCount,
and sql). See docs/contract-checks.md.

Exit codes: 0 every error-level check passed, 1 a check failed, 2 usage or I/O error.")]
    Test(TestArgs),

    /// Build, check and publish products as new Delta versions, if every error check passes.
    #[command(after_help = "Examples:
  tessera publish                        Every product that changed, in dependency order
  tessera publish crm/customers          One product, after publishing stale upstream products
  tessera publish --format json          Outcomes (checks, rows, versions) as JSON, for CI

Each output port is a Delta table under the mesh's storage root:
<root>/<domain>/<product>/<port>. A publish commits one new version per port, atomically;
a failed check or an interrupted publish commits nothing and the last good version keeps
serving. Failing rows are written to <root>/_quarantine/<domain>/<product>/<port>/.

Exit codes: 0 every product published or unchanged, 1 a check or build failed, 2 usage or I/O error.")]
    Publish(RunArgs),

    /// History of builds, tests and publishes: status, rows, duration, checks.
    #[command(after_help = "Examples:
  tessera runs                           The newest runs of every product
  tessera runs crm/customers --limit 5   One product's last five runs
  tessera runs --id 0193…                One run with every check result and failing samples")]
    Runs(RunsArgs),

    /// The published Delta versions of a product's ports.
    #[command(after_help = "Examples:
  tessera versions crm/customers
  tessera versions crm/customers --format json")]
    Versions(VersionsArgs),

    /// Compare two versions of a contract: what changed, what breaks consumers, and whom.
    #[command(
        after_help = "A side is a contract file, a git revision of one (REV:PATH, as `git show` reads
it), a port of the mesh (domain.port: its contract file now) or a published version
(published:domain.port[@N]: the contract that version was committed under).

A change breaks consumers when one that relied on the old promise can fail or misread:
a removed or renamed column, any type change (widening too), required → optional, unique
dropped, allowed values added, an SLA weakened, a classification loosened, a quality rule
dropped. Breaking changes need a new major version (semver; below 1.0.0 the minor).
For a port of the mesh, the consumers each breaking change would break are listed: the
principals whose queries read the changed columns (audit log, --since) and the products
whose SQL reads them (lineage).

Examples:
  tessera diff                                      Every published port: published → files
  tessera diff crm.customers                        One port: newest published version → its file
  tessera diff published:crm.customers@3 crm.customers
  tessera diff HEAD~1:domains/crm/customers/customers.odcs.yaml ./domains/crm/customers/customers.odcs.yaml
  tessera diff old.odcs.yaml new.odcs.yaml --format json

Exit codes: 0 compatible (or breaking under a new major version), 1 breaking changes the
version does not allow (with --strict: any breaking change), 2 usage or I/O error."
    )]
    Diff(DiffArgs),

    /// Every port's SLAs measured now (red, amber, green) and its lifecycle.
    #[command(
        after_help = "Measures each output port's contract promises (slaProperties) against the port
as it is now: latency (from the newest value of its `element` column, else from the last
good publish), frequency (since the last good publish; a publish that found nothing
changed counts), availability (the share of the monitor's probes that could read the
port, from `tessera serve`'s history), retention (no row older than it), timeOfAvailability
(the day's data published by HH:MM UTC), and quality (the checks of its publishes).
Amber: within the last fifth before a time limit, or a warning check failing. A deprecated
port shows its sunset date, its replacement and who still used it (--since).
See docs/sla.md.

Examples:
  tessera status                          Every port, one line per SLA
  tessera status crm.customers            One port, with why each SLA is in its state
  tessera status --check                  For CI or cron: exit 1 when an SLA is red
  tessera status --format json            Everything, measured values in seconds / percent
  tessera status --deliveries             The newest webhook deliveries (tessera serve's monitoring)

Exit codes: 0 measured (with --check: nothing red), 1 with --check: an SLA is red,
2 usage or I/O error."
    )]
    Status(StatusArgs),

    /// Query the mesh with SQL: every active output port is a table <domain>.<port>.
    #[command(after_help = r#"Examples:
  tessera sql "SELECT channel, count(*) FROM web.events GROUP BY 1"
  tessera sql -f query.sql --format csv -o result.csv
  tessera sql "SELECT * FROM crm.customers" -o customers.parquet    (format from the extension)
  tessera sql "SELECT count(*) FROM crm.customers VERSION AS OF 3"
  tessera sql "SELECT * FROM web.events TIMESTAMP AS OF '2026-11-24 09:00:00'"
  tessera sql "SELECT * FROM mesh_meta.products"
  tessera sql                            An interactive shell (\d lists the tables)

Tables: each active output port as <domain>.<port> at its latest published version
(deprecated ports with a warning); mesh_meta.{products,ports,columns,versions,runs,checks,
lineage,audit}; information_schema.{schemata,tables,columns} (with the contracts' descriptions).
Time travel: `VERSION AS OF n` or `TIMESTAMP AS OF '…'` after a table name.

The SQL is read-only (no CREATE, INSERT, COPY, SET). Each query runs under the limits in
mesh.yaml (`query:` memory_limit, timeout, max_rows); results printed to the terminal are
capped at max_rows, exports with -o are not.

In a governed mesh (one with policies/principals.yaml) every query runs as a principal
and for a purpose: --as and --purpose (or TESSERA_PRINCIPAL and TESSERA_PURPOSE). You see
only what policy lets you: columns visible, masked or absent, rows filtered, subjects who
did not consent to the purpose left out. Every query is recorded in the audit log.

Exit codes: 0 success, 1 the query failed (syntax, unknown name, limit, not permitted, …),
2 usage or I/O error."#)]
    Sql(SqlArgs),

    /// Show how a query would run: the logical and physical plans, or with --analyze the
    /// plan after running it, with each operator's metrics.
    #[command(after_help = r#"Examples:
  tessera explain "SELECT channel, count(*) FROM web.events GROUP BY 1"
  tessera explain --analyze -f query.sql      Run it, and show rows, time and pruning per operator
  tessera explain --tree "SELECT …"           The physical plan drawn as a tree"#)]
    Explain(ExplainArgs),

    /// Generate the marketing demo mesh with data, publish it, and show what to try next.
    #[command(after_help = "Examples:
  tessera demo                           ./tessera-demo at scale 1 (about 1M web events)
  tessera demo --scale 0.1 --dir /tmp/d  A quick try
  tessera demo --scale 10                About 10M web events

The mesh has five source-aligned domains (crm, web, ads, orders, consent) and a
consumer-aligned marketing domain built from them. Running it again in the same folder
reuses the mesh and the data, and publishes only what changed.")]
    Demo(DemoArgs),

    /// Governance as code: what a principal may see and why, policy tests, the Cedar schema.
    #[command(subcommand)]
    Policy(PolicyCommand),

    /// The audit log: who read what, for which purpose, and whether the log is intact.
    #[command(after_help = "Examples:
  tessera audit --as dora --purpose compliance                     The newest records
  tessera audit --as dora --purpose compliance --principal ana --since 1h
  tessera audit --as dora --purpose compliance --table crm.customers --format json
  tessera audit verify                                             Exit 1 if any record was changed or removed

Every statement is recorded — answered, refused or failed — with its principal, purpose,
interface, SQL, the ports and columns it read (and how each column was shown), rows and
outcome. Records are hash-chained with a key derived from the mesh secret; `verify`
recomputes the chain. Reading the log needs the read_audit action in policy.")]
    Audit(AuditArgs),

    /// Serve the mesh: the HTTP API, the PostgreSQL wire protocol and Arrow Flight SQL.
    #[command(after_help = "Examples:
  tessera serve                                Every protocol on mesh.yaml's addresses
                                               (default 127.0.0.1:8080, :5433, :50051)
  tessera serve --http 0.0.0.0:8080 --pg off   HTTP on every interface, no PostgreSQL
  tessera token create --principal ben --purposes analytics    A token to connect with

Connect (the password is the token):
  psql \"postgresql://ben@127.0.0.1:5433/mesh?options=-c%20tessera.purpose%3Danalytics\"
  curl -H \"Authorization: Bearer $TOKEN\" -H \"Tessera-Purpose: analytics\" \\
       -d '{\"sql\": \"SELECT 1\"}' http://127.0.0.1:8080/api/v1/query
  adbc_driver_flightsql.dbapi.connect(\"grpc://127.0.0.1:50051\", db_kwargs={
      \"username\": \"ben\", \"password\": TOKEN,
      \"adbc.flight.sql.rpc.call_header.tessera-purpose\": \"analytics\"})

Every request is authenticated with a token (`tessera token create`), runs as its principal
for a purpose, and is governed and audited exactly as `tessera sql --as … --purpose …`.
The API is described at /api/v1/openapi.json; metrics at /metrics; health at /api/v1/health.
Settings: flags, then TESSERA_HTTP / TESSERA_PG / TESSERA_FLIGHT, then mesh.yaml `server:`.
Ctrl-C (SIGINT) or SIGTERM stops accepting and lets running queries finish (--grace).
See docs/serve.md.")]
    Serve(ServeArgs),

    /// API tokens: create (shown once), list, revoke.
    #[command(subcommand)]
    Token(TokenCommand),

    /// Access requests: ask for a port for a purpose; the owners of its domain decide.
    #[command(subcommand)]
    Access(AccessCommand),

    /// Erase a data subject from every port that holds its key, along lineage, with a report.
    #[command(after_help = r#"Examples:
  tessera erase --subject customer_id=4711 --as dpo@example.com --dry-run
  tessera erase --subject customer_id=4711 --as dpo@example.com --reason "Art. 17 request #123"
  tessera erase --resume --as dpo@example.com   Finish an erasure whose process died
  tessera erase report                          The recorded erasures, newest first
  tessera erase report 0193… --format json      One erasure's report

The subject is named by a column marked `tesseraSubjectKey` in the contracts (or by its
kind: customer=4711). Every port with a column of that kind is erased, upstream products
before the products built from them, each as a new Delta version (Delta DELETE; files
without the subject are not rewritten). The subject's keyed hash (never the key) enters
the erasure register first, and every later build filters its inputs through the
register, so a rebuild from the original sources cannot bring the subject back.

The old versions still hold the rows until `tessera vacuum` removes their files (after
privacy.vacuum_retention in mesh.yaml). Erasing needs the Cedar action `erase` on every
port (all or nothing); the erasure and its report are recorded in the audit log. If the
process dies in the middle, the next `tessera erase` on this host finishes it, and its
report says what the interruption had left.

Exit codes: 0 erased (or planned), 1 refused or failed, 2 usage or I/O error."#)]
    Erase(EraseArgs),

    /// Remove the files of old Delta versions, old quarantined rows and old candidates.
    #[command(after_help = "Examples:
  tessera vacuum                   What is older than mesh.yaml's privacy.vacuum_retention (7d)
  tessera vacuum --older-than 0s   Everything no longer part of a port's latest version

Removes, for every port: data files that no version committed within the window reads,
files of failed publishes, Delta log entries older than the window (after writing a
checkpoint); and files older than the window in the quarantine folders and in
.tessera/candidates. After it, time travel to versions older than the window fails, and
erased or expired rows are physically gone. Recorded in the audit log as `vacuum`.")]
    Vacuum(VacuumArgs),

    /// Data subjects: export everything the mesh holds about one (right of access).
    #[command(subcommand)]
    Subject(SubjectCommand),

    /// Retention from contracts (slaProperties `retention`): show it, or delete expired rows.
    #[command(subcommand)]
    Retention(RetentionCommand),
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EraseArgs {
    #[command(subcommand)]
    pub command: Option<EraseCommand>,
    /// The subject: <column>=<key> with a subject-key column, or <kind>=<key>.
    #[arg(long, value_name = "COLUMN=KEY", required_unless_present = "resume")]
    pub subject: Option<String>,
    /// Show the plan (ports, versions, rows holding the subject); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Why (e.g. the request's reference); kept with the erasure and in the audit log.
    #[arg(long)]
    pub reason: Option<String>,
    /// Only roll forward erasures whose process died; start none.
    #[arg(long, conflicts_with_all = ["subject", "dry_run"])]
    pub resume: bool,
    /// The principal erasing (policies/principals.yaml; needs the `erase` action).
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum EraseCommand {
    /// The recorded erasures (newest first), or one erasure's report.
    Report(EraseReportArgs),
}

#[derive(Debug, Args)]
pub struct EraseReportArgs {
    /// The erasure id [default: list every erasure].
    pub id: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// Remove what is older than this (e.g. 0s, 1h, 7d) [default: mesh.yaml privacy.vacuum_retention, else 7d].
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Who is vacuuming, for the audit log.
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum SubjectCommand {
    /// Every row about a subject across the mesh, with product, port and version, and who
    /// read the ports holding it.
    #[command(after_help = "Examples:
  tessera subject export --subject customer_id=4711 --as dpo@example.com --purpose compliance
  tessera subject export --subject customer=4711 --as dpo@example.com --purpose compliance \\
      -o report.html

Reads each port holding the subject's kind through a governed session (as --as, for
--purpose: what policy hides stays hidden, and each query is audited) and lists the audit
records of queries over those ports: who, when, for which purpose. The audit log records
ports read, not subjects, so these reads are every read that could have seen the subject.
Output: JSON on stdout, or -o FILE as .json or .html.")]
    Export(SubjectExportArgs),
}

#[derive(Debug, Args)]
pub struct SubjectExportArgs {
    /// The subject: <column>=<key> with a subject-key column, or <kind>=<key>.
    #[arg(long, value_name = "COLUMN=KEY")]
    pub subject: String,
    /// Write to FILE (.json or .html) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// At most this many audit records of reads.
    #[arg(long, default_value_t = 1000)]
    pub max_reads: usize,
    #[command(flatten)]
    pub who: IdentityArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// The retention of every port (from its contract) and the cutoff it means today.
    Show(RetentionArgs),
    /// Delete the rows older than each port's retention, as new Delta versions.
    #[command(after_help = "Examples:
  tessera retention show
  tessera retention apply --as dpo@example.com

Each contract's slaProperties entry `retention` (value, unit d/w/m/y, element
<object>.<column>) keeps rows whose column is within the retention; older rows are
deleted as a new Delta version per port, recorded in the audit log as `retention`.
Run it on a schedule (cron, a CI job); rows a later publish rebuilds from older sources
are deleted again by the next run.")]
    Apply(RetentionArgs),
}

#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// Who is applying it, for the audit log.
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

/// Who is asking, and why: the principal and purpose a governed session runs as.
#[derive(Debug, Args, Clone, Default)]
pub struct IdentityArgs {
    /// The principal to act as (policies/principals.yaml).
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    /// The purpose of this session (mesh.yaml `purposes`).
    #[arg(long, env = "TESSERA_PURPOSE", value_name = "PURPOSE")]
    pub purpose: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP API address, or `off` [default: mesh.yaml server.http, else 127.0.0.1:8080].
    #[arg(long, env = "TESSERA_HTTP", value_name = "ADDR")]
    pub http: Option<String>,
    /// PostgreSQL wire address, or `off` [default: mesh.yaml server.pg, else 127.0.0.1:5433].
    #[arg(long, env = "TESSERA_PG", value_name = "ADDR")]
    pub pg: Option<String>,
    /// Arrow Flight SQL address, or `off` [default: mesh.yaml server.flight, else 127.0.0.1:50051].
    #[arg(long, env = "TESSERA_FLIGHT", value_name = "ADDR")]
    pub flight: Option<String>,
    /// How long running queries may take to finish after a stop signal.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub grace: String,
    /// Log format: `text` for people, `json` for log collectors. Levels: RUST_LOG
    /// (default: Tessera at info, libraries at warn).
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_parser = ["text", "json"], default_value = "text")]
    pub log_format: String,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a principal; it is printed once and stored only as a hash.
    #[command(after_help = "Examples:
  tessera token create --principal ana@example.com
  tessera token create --principal mailer --purposes email_marketing --expires 90d --note prod

The principal must be declared in policies/principals.yaml (in a governed mesh). A token
with --purposes can only be used for those; without, for any purpose the principal's
policies allow. Keep the token secret: whoever holds it acts as the principal.")]
    Create(TokenCreateArgs),
    /// List tokens (never the tokens themselves): id, principal, purposes, expiry, last use.
    List(TokenListArgs),
    /// Revoke a token by id; it stops working within seconds, also in a running server.
    Revoke(TokenRevokeArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// Who the token acts as.
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: String,
    /// The only purposes it may be used for, comma-separated [default: any].
    #[arg(long, value_delimiter = ',', value_name = "PURPOSES")]
    pub purposes: Vec<String>,
    /// Expire after this long (e.g. 12h, 30d) [default: never].
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
    /// A note for the list (what the token is for).
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct TokenListArgs {
    /// Only this principal's tokens.
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct TokenRevokeArgs {
    /// The token's id (tok_…), from `tessera token list`.
    pub id: String,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum AccessCommand {
    /// Ask for access to a port for a purpose, with a justification for its owners.
    #[command(after_help = r#"Examples:
  tessera access request shop.orders --purpose analytics --as nobody \
      --justification "Churn model for Q3; order amounts per customer"

The owners of the port's domain (whoever policy allows the Cedar action approve_access
on the port) see the request in `tessera access list` and approve or deny it. An
approved request is a grant: the policies read it as `context.granted`, from the
requester's next query for that purpose on. A request is refused at once when a grant
would change nothing (you may already query the port, no policy reads context.granted,
or a forbid wins) — see docs/access.md.

Exit codes: 0 requested, 1 refused (the message says why), 2 usage or I/O error."#)]
    Request(AccessRequestArgs),
    /// Your requests and those you may decide, newest first.
    #[command(after_help = "Examples:
  tessera access list --as sam                       Yours and those you may decide
  tessera access list --as sam --status requested    What waits for a decision
  tessera access list --as nobody --mine --format json

States: requested, approved (a grant in force), expired, denied, withdrawn, revoked.")]
    List(AccessListArgs),
    /// Approve a request, optionally until an expiry; the requester's next query holds the grant.
    #[command(after_help = "Examples:
  tessera access approve 0193a… --as sam
  tessera access approve 0193a… --as sam --expires 30d --reason \"until the Q3 review\"
  tessera access approve 0193a… --as sam --expires 2026-12-31T00:00:00Z

Needs the Cedar action approve_access on the port (context.purpose is the request's
purpose); nobody decides their own request. A request is decided once.")]
    Approve(AccessApproveArgs),
    /// Deny a request, with a reason the requester reads.
    #[command(after_help = r#"Examples:
  tessera access deny 0193a… --as sam --reason "Use analytics.revenue_by_country instead""#)]
    Deny(AccessDenyArgs),
    /// Take an approved grant back; it stops working on the requester's next query.
    Revoke(AccessRevokeArgs),
    /// Withdraw your own request before it is decided.
    Withdraw(AccessWithdrawArgs),
}

/// Who is acting on access requests.
#[derive(Debug, Args, Clone)]
pub struct AccessAs {
    /// The principal acting (policies/principals.yaml).
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
}

#[derive(Debug, Args)]
pub struct AccessRequestArgs {
    /// The port, as <domain>.<port>.
    #[arg(value_name = "PORT")]
    pub port: String,
    /// What the data will be used for (mesh.yaml `purposes`).
    #[arg(long, env = "TESSERA_PURPOSE", value_name = "PURPOSE")]
    pub purpose: String,
    /// Why you need it, for the port's owners.
    #[arg(long, value_name = "TEXT")]
    pub justification: String,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct AccessListArgs {
    /// Only requests in this state.
    #[arg(long, value_enum)]
    pub status: Option<AccessState>,
    /// Only this port's requests (<domain>.<port>).
    #[arg(long, value_name = "PORT")]
    pub port: Option<String>,
    /// Only the requests you made.
    #[arg(long, conflicts_with = "to_decide")]
    pub mine: bool,
    /// Only others' requests that you may decide.
    #[arg(long)]
    pub to_decide: bool,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

/// The state of an access request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessState {
    Requested,
    /// Approved (in force or expired).
    Approved,
    /// Approved, and past its expiry.
    Expired,
    Denied,
    Withdrawn,
    Revoked,
}

#[derive(Debug, Args)]
pub struct AccessApproveArgs {
    /// The request's id (from `tessera access list`).
    pub id: String,
    /// End the grant after this long (30d, 12h, 90m, 2w) or at this RFC 3339 time
    /// [default: no expiry].
    #[arg(long, value_name = "DURATION|TIME")]
    pub expires: Option<String>,
    /// A note for the requester and the audit log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct AccessDenyArgs {
    /// The request's id (from `tessera access list`).
    pub id: String,
    /// Why, for the requester.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct AccessRevokeArgs {
    /// The approved request's id (from `tessera access list`).
    pub id: String,
    /// Why, for the requester and the audit log.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct AccessWithdrawArgs {
    /// Your request's id (from `tessera access list`).
    pub id: String,
    #[command(flatten)]
    pub who: AccessAs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Which ports a principal may query for a purpose, and for each column whether it is
    /// visible, masked (how) or absent — with the policy that decided; row filters and consent.
    #[command(after_help = "Examples:
  tessera policy check --as ana --purpose analytics crm.customers
  tessera policy check --as mailer --purpose email_marketing        Every port
  tessera policy check --as ana --purpose analytics --format json")]
    Check(PolicyCheckArgs),
    /// Run the policy tests in policies/tests/*.slt (sqllogictest: SET tessera.principal /
    /// SET tessera.purpose, then queries with their exact expected rows or errors).
    #[command(after_help = "Examples:
  tessera policy test
  tessera policy test policies/tests/analyst.slt
  tessera policy test --rewrite          Write the actual results into the files (then read the diff)

Exit codes: 0 every test passed, 1 a test failed, 2 usage or I/O error.")]
    Test(PolicyTestArgs),
    /// Print the Cedar schema generated from the mesh, which policies are validated against.
    Schema(PolicySchemaArgs),
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// Ports as <domain>.<port> [default: every port].
    #[arg(value_name = "TABLE")]
    pub tables: Vec<String>,
    #[command(flatten)]
    pub who: IdentityArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct PolicyTestArgs {
    /// Test files [default: policies/tests/*.slt].
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write the actual results into the files instead of comparing.
    #[arg(long)]
    pub rewrite: bool,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct PolicySchemaArgs {
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    /// Only records of this principal.
    #[arg(long = "principal", value_name = "PRINCIPAL")]
    pub of_principal: Option<String>,
    /// Only records for this purpose.
    #[arg(long = "for-purpose", value_name = "PURPOSE")]
    pub for_purpose: Option<String>,
    /// Only records that read this table (<domain>.<port>).
    #[arg(long)]
    pub table: Option<String>,
    /// Only records of the last DURATION (e.g. 30m, 1h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only records with this outcome.
    #[arg(long, value_parser = ["ok", "denied", "error"])]
    pub outcome: Option<String>,
    /// At most this many records, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub who: IdentityArgs,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the audit log's hash chain; exit 1 if any record was changed or removed.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct MeshArg {
    /// The mesh root [default: the nearest folder upwards with a mesh.yaml].
    #[arg(long, env = "TESSERA_MESH", value_name = "DIR", global = true)]
    pub mesh: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// No progress, only the outcome (errors are still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Products as <domain>/<product> [default: every product].
    #[arg(value_name = "PRODUCT")]
    pub products: Vec<String>,
    /// Rebuild the named products (every product when none is named) even when inputs, SQL
    /// and contract are unchanged since the last good publish; upstream products are still
    /// rebuilt only when stale.
    #[arg(long)]
    pub force: bool,
    /// Publish as this principal: policy must permit `publish` on each product (domain
    /// owners publish their own domain's products). Without it, the local operator
    /// publishes (audited as local:<user>).
    #[arg(long = "as", env = "TESSERA_PRINCIPAL", value_name = "PRINCIPAL")]
    pub principal: Option<String>,
    #[command(flatten)]
    pub mesh: MeshArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Products as <domain>/<product>, or a contract file (.odcs.yaml) [default: every product].
    #[arg(value_name = "PRODUCT|CONTRACT")]
    pub targets: Vec<String>,
    /// Check the published versions instead of the built candidates.
    #[arg(long)]
    pub published: bool,
    /// Failing rows shown per check.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub samples: usize,
    #[command(flatten)]
    pub mesh: MeshArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// One product, as <domain>/<product> [default: every product].
    #[arg(value_name = "PRODUCT")]
    pub product: Option<String>,
    /// Show one run in full: every check, with failing samples.
    #[arg(long, value_name = "RUN_ID", conflicts_with = "product")]
    pub id: Option<String>,
    /// How many runs to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    #[command(flatten)]
    pub mesh: MeshArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// OLD and NEW (files, REV:PATH, domain.port or published:domain.port[@N]); one port;
    /// or none.
    #[arg(value_name = "SIDE", num_args = 0..=2)]
    pub sides: Vec<String>,
    /// How far back the audit log is read for the consumers of a change (30d, 12h, …).
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub since: String,
    /// Exit 1 on any breaking change, even under a new major version.
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub mesh: MeshArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Ports to show, as domain.port (all when none); each is shown with why.
    #[arg(value_name = "PORT")]
    pub ports: Vec<String>,
    /// Exit 1 when any SLA is red.
    #[arg(long)]
    pub check: bool,
    /// Store this evaluation in the SLA history, as `tessera serve` does every
    /// monitoring.evaluate_every (breaches and recoveries are printed, not sent).
    #[arg(long)]
    pub record: bool,
    /// How far back the audit log is read for who still uses a deprecated port.
    #[arg(long, default_value = "30d", value_name = "DURATION")]
    pub since: String,
    /// Instead of the SLAs: the newest N webhook deliveries of breaches and recoveries
    /// (attempts, outcome, last status or error).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "20")]
    pub deliveries: Option<u32>,
    #[command(flatten)]
    pub mesh: MeshArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct VersionsArgs {
    /// The product, as <domain>/<product>.
    #[arg(value_name = "PRODUCT")]
    pub product: String,
    #[command(flatten)]
    pub mesh: MeshArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data volume: 1 ≈ 1M web events, 10 ≈ 10M; fractions such as 0.1 work.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Folder for the demo mesh (created; reused if it holds a previous demo).
    #[arg(long, default_value = "tessera-demo")]
    pub dir: PathBuf,
    /// Seed of the data generator (same seed and scale, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// No progress, only the outcome.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL to run [default: -f FILE, else SQL read from stdin when it is not a
    /// terminal, else an interactive shell].
    #[arg(value_name = "SQL", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from a file (several statements are run in order).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Result format [default: from -o's extension, else table].
    #[arg(long, value_enum)]
    pub format: Option<SqlFormat>,
    /// Write the result to a file instead of stdout (streamed; not capped at max_rows).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print planning and execution time, rows and tables read to stderr.
    #[arg(long)]
    pub timing: bool,
    #[command(flatten)]
    pub who: IdentityArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// A text table for people.
    Table,
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    Parquet,
    /// Arrow IPC: the file format with -o, the stream format on stdout.
    Arrow,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The query.
    #[arg(
        value_name = "SQL",
        conflicts_with = "file",
        required_unless_present = "file"
    )]
    pub sql: Option<String>,
    /// Read the query from a file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Run the query and show each operator's metrics.
    #[arg(long)]
    pub analyze: bool,
    /// Draw the physical plan as a tree.
    #[arg(long)]
    pub tree: bool,
    #[command(flatten)]
    pub who: IdentityArgs,
    #[command(flatten)]
    pub mesh: MeshArg,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create the mesh in.
    pub dir: PathBuf,
    /// The mesh's name [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Username (e-mail) of the example domain's owner [default: git's user.email, or $USER].
    #[arg(long)]
    pub owner: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Scaffold a data product: dataproduct.yaml, <port>.odcs.yaml and <port>.sql.
    #[command(after_help = "Examples:
  tessera new product crm/customers
  tessera new product marketing/segments --input crm.customers.customers
  tessera new product web/events --port page_views

A new domain also gets a domain.yaml. Existing files are never overwritten.")]
    Product(NewProductArgs),
}

#[derive(Debug, Args)]
pub struct NewProductArgs {
    /// The product, as <domain>/<product> (lower_snake_case names).
    pub product: String,
    /// Name of the output port [default: the product's name].
    #[arg(long)]
    pub port: Option<String>,
    /// Contract id of an input: a source's or another product's output port.
    /// Repeat for several inputs.
    #[arg(long = "input", value_name = "CONTRACT_ID")]
    pub inputs: Vec<String>,
    /// Owner username for the product's team [default: the domain's first owner].
    #[arg(long)]
    pub owner: Option<String>,
    /// The mesh root [default: the nearest folder upwards with a mesh.yaml].
    #[arg(long, env = "TESSERA_MESH", value_name = "DIR")]
    pub mesh: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A mesh root, a product folder, or a file [default: the mesh around the current folder].
    pub path: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Treat warnings as errors (exit 1 if there are any).
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people (validate: one line per finding, file:line:column: severity[code]: path: message).
    Text,
    /// For scripts and CI (validate: a summary and every finding; build/test/publish: each
    /// product's outcome with its checks).
    Json,
}
