//! The command line: every command, flag and example a user sees in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Tessera: a data mesh in one binary.

Domain teams publish data products (ODPS v1) with contracts (ODCS v3); Tessera checks
them, stores them as Delta Lake tables and serves them through SQL and open protocols,
with one set of governance policies on every path.";

const EXAMPLES: &str = "Examples:
  tessera init my-mesh                  Start a mesh with an example domain and product
  cd my-mesh && tessera validate        Check every file of the mesh
  tessera new product web/events        Scaffold a product: descriptor, contract, SQL
  tessera validate --format json        Findings as JSON, for CI

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
    /// One line per finding: file:line:column: severity[code]: path: message.
    Text,
    /// A JSON object with a summary and every finding.
    Json,
}
