//! Progress while products build (indicatif: one line per product with its stage and
//! elapsed time), and the outcome lines printed when each finishes.

use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tessera_engine::run::{Event, Observer};
use tessera_engine::{ProductOutcome, Status};

pub struct Bars {
    quiet: bool,
    current: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        Bars {
            quiet,
            current: Mutex::new(None),
        }
    }
}

impl Observer for Bars {
    fn event(&self, event: Event<'_>) {
        let mut current = self.current.lock().expect("progress lock");
        match event {
            Event::Started {
                product,
                index,
                total,
            } => {
                if self.quiet {
                    return;
                }
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{prefix}] {msg} {elapsed:.dim}")
                        .expect("a valid template"),
                );
                bar.set_prefix(format!("{}/{total}", index + 1));
                bar.set_message(product.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                *current = Some(bar);
            }
            Event::Stage { product, stage } => {
                if let Some(bar) = current.as_ref() {
                    bar.set_message(format!("{product}: {stage}"));
                }
            }
            Event::Finished { outcome } => {
                if let Some(bar) = current.take() {
                    bar.finish_and_clear();
                }
                if !self.quiet || outcome.status == Status::Failed {
                    eprint!("{}", outcome_text(outcome, !self.quiet));
                }
            }
        }
    }
}

/// The lines that say how a product's run ended; with `detail`, each failed check too.
pub fn outcome_text(o: &ProductOutcome, detail: bool) -> String {
    let mut out = String::new();
    let (mark, what) = match o.status {
        Status::Succeeded => {
            let versions: Vec<String> = o
                .ports
                .iter()
                .filter_map(|p| p.version.map(|v| format!("{} v{v}", p.port)))
                .collect();
            let what = if versions.is_empty() {
                "built".to_string()
            } else {
                format!("published {}", versions.join(", "))
            };
            ("✓", what)
        }
        Status::Skipped => ("·", "unchanged, skipped".to_string()),
        Status::Failed => ("✗", "FAILED".to_string()),
        Status::Blocked => ("✗", "not built".to_string()),
    };
    let rows: i64 = o.ports.iter().map(|p| p.rows).sum();
    let (mut passed, mut warned, mut failed) = (0, 0, 0);
    for c in o.reports().flat_map(|(_, r)| &r.checks) {
        match (c.passed, c.severity) {
            (true, _) => passed += 1,
            (false, tessera_quality::Severity::Warning) => warned += 1,
            (false, tessera_quality::Severity::Error) => failed += 1,
        }
    }
    let checks = if passed + warned + failed == 0 {
        String::new()
    } else {
        let mut s = format!("  {passed} checks passed");
        if warned > 0 {
            s += &format!(", {warned} warning{}", if warned == 1 { "" } else { "s" });
        }
        if failed > 0 {
            s += &format!(", {failed} failed");
        }
        s
    };
    out += &format!(
        "{mark} {:<28} {what}  {} rows{checks}  {:.1}s\n",
        o.product,
        group(rows),
        o.duration_ms as f64 / 1000.0
    );
    if let Some(m) = &o.message
        && o.status != Status::Skipped
    {
        for line in m.lines() {
            out += &format!("    {line}\n");
        }
    }
    if detail || o.status == Status::Failed {
        out += &failed_checks(o);
    }
    for w in &o.warnings {
        out += &format!("    warning: {w}\n");
    }
    out
}

/// Each failed check, with its numbers, message and first samples.
pub fn failed_checks(o: &ProductOutcome) -> String {
    let mut out = String::new();
    for (of, report) in o.reports() {
        for c in report.checks.iter().filter(|c| !c.passed) {
            let level = c.severity.as_str();
            let unit = if c.expected.ends_with('%') { " %" } else { "" };
            let measured = c
                .measured
                .map(|m| format!("measured {}{unit}", trim_num(m)))
                .unwrap_or_default();
            out += &format!(
                "    {level}: {of}: {} — {measured}, expected {}",
                c.name, c.expected
            );
            if let Some(n) = c.failed_rows {
                out += &format!(" ({} rows)", group(n));
            }
            out += "\n";
            if let Some(m) = &c.message {
                for line in m.lines() {
                    out += &format!("      {line}\n");
                }
            }
            // Samples of warnings stay in the run record; errors show their first few.
            let shown = if c.severity == tessera_quality::Severity::Error {
                3
            } else {
                0
            };
            for s in c.samples.iter().take(shown) {
                out += &format!("      e.g. {}\n", clip(&s.to_string()));
            }
            if c.samples.len() > shown {
                out += &format!(
                    "      {} sample rows: tessera runs --id {}\n",
                    c.samples.len(),
                    o.run_id.as_deref().unwrap_or("?")
                );
            }
        }
    }
    for p in &o.ports {
        if let Some(q) = &p.quarantine {
            out += &format!("    failing rows of {} quarantined at {q}\n", p.port);
        }
    }
    out
}

/// A sample row cut to fit a terminal line; `tessera runs --id` and JSON output keep it whole.
pub fn clip(s: &str) -> String {
    const MAX: usize = 160;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

pub fn trim_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// 1234567 → "1,234,567".
pub fn group(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
