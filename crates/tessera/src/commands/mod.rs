//! One module per command; each exposes `run(args) -> anyhow::Result<ExitCode>`.

pub mod access;
pub mod audit;
pub mod demo;
pub mod diff;
pub mod history;
pub mod init;
pub mod mesh;
pub mod new_product;
pub mod policy;
pub mod privacy;
pub mod progress;
pub mod run;
pub mod serve;
pub mod shell;
pub mod sql;
pub mod status;
pub mod test;
pub mod validate;

/// The owner to put in scaffolded files when none is given: git's user.email, else $USER.
pub fn default_owner() -> String {
    std::process::Command::new("git")
        .args(["config", "--get", "user.email"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "owner".to_string())
}
