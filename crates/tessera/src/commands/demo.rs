//! `tessera demo`: the marketing demo mesh — its files, generated source data, and every
//! product published — then what to try next.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tessera_demo::DemoOptions;
use tessera_engine::{Mode, RunOptions};

use crate::cli::{DemoArgs, Format};
use crate::commands::{mesh, progress};

/// What data a demo folder holds, so a second run can reuse it.
const MARKER: &str = ".tessera/demo.json";

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    if !(args.scale > 0.0 && args.scale <= 1000.0) {
        bail!(
            "--scale must be more than 0 and at most 1000 (1 ≈ 1M web events); got {}",
            args.scale
        );
    }
    let dir = &args.dir;
    let say = |s: String| {
        if !args.quiet {
            eprintln!("{s}");
        }
    };
    if dir.join("mesh.yaml").is_file() {
        say(format!("Reusing the demo mesh in {}", dir.display()));
    } else {
        if dir.exists()
            && std::fs::read_dir(dir)
                .with_context(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_some()
        {
            bail!(
                "{} exists and is not a demo mesh; choose another folder with --dir",
                dir.display()
            );
        }
        let files = tessera_demo::write_mesh(dir)?;
        say(format!(
            "Wrote the demo mesh: {} files in {}",
            files.len(),
            dir.display()
        ));
    }

    let wanted = serde_json::json!({"scale": args.scale, "seed": args.seed});
    let marker = dir.join(MARKER);
    let have = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    if have.as_ref() == Some(&wanted) {
        say("Reusing the generated data (same scale and seed)".into());
    } else {
        generate(dir, &args)?;
        std::fs::create_dir_all(marker.parent().expect("the marker is in a folder"))
            .with_context(|| format!("cannot create {}", dir.join(".tessera").display()))?;
        std::fs::write(&marker, serde_json::to_vec(&wanted)?)
            .with_context(|| format!("cannot write {}", marker.display()))?;
    }

    let root = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let rt = mesh::runtime()?;
    let code = rt.block_on(async {
        let engine = mesh::engine(&root).await?;
        say(
            "Publishing every product (build, check against its contract, commit to Delta Lake):"
                .into(),
        );
        let bars = progress::Bars::new(args.quiet);
        let outcomes = engine
            .run(&[], Mode::Publish, &RunOptions::default(), &bars)
            .await?;
        crate::commands::run::report(&outcomes, Format::Text, args.quiet)
    })?;
    if !args.quiet {
        let d = dir.display();
        println!(
            "
The demo mesh is in {d}. Try next:

  cd {d}
  export TESSERA_PRINCIPAL=ben.carter@example.com TESSERA_PURPOSE=analytics   the mesh is governed: who and why
  tessera sql \"SELECT channel, count(*) AS events FROM web.events GROUP BY 1 ORDER BY 2 DESC\"
  tessera sql \"SELECT segment, count(*) FROM marketing.segments GROUP BY 1\"
  tessera sql \"SELECT * FROM crm.customers LIMIT 5\"        e-mails hashed, his markets only, no phone
  tessera policy check crm.customers            what he may see of it, and which policy decided
  tessera sql --as mailer --purpose email_marketing \"SELECT count(*) FROM crm.customers\"   consented only
  tessera audit --as dpo@example.com --purpose compliance   who read what, for which purpose
  tessera sql                                   an interactive SQL shell (\\d lists the tables)
  tessera token create --principal ben.carter@example.com   a token, then `tessera serve`: HTTP, psql, Flight SQL
  tessera validate                              every file checked, with locations
  tessera runs                                  what was published, rows, checks
  tessera versions marketing/customer_360       Delta versions of a product's ports
  tessera test crm/customers --published        the contract checks, one line each
  tessera publish                               nothing changed, so everything is skipped
  tessera publish crm/customers --force         rebuild one product and what it needs
  tessera test domains/web/sources/raw_events.odcs.yaml   a source contract against its file

Every output port is a Delta Lake table under {d}/.tessera/data/<domain>/<product>/<port>,
readable as-is by DuckDB, Spark, polars or pandas."
        );
    }
    Ok(code)
}

fn generate(dir: &Path, args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "  generating {msg:<16} [{bar:30}] {pos}/{len} rows {elapsed}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    let report = tessera_demo::generate(
        dir,
        &DemoOptions {
            scale: args.scale,
            seed: args.seed,
        },
        &mut |p: &tessera_demo::Progress| {
            bar.set_message(p.step);
            bar.set_length(p.rows_total);
            bar.set_position(p.rows_done);
        },
    )?;
    bar.finish_and_clear();
    if !args.quiet {
        let rows: u64 = report.files.iter().map(|(_, n)| n).sum();
        eprintln!(
            "Generated {} source files, {} rows, in {:.1}s (scale {}, seed {})",
            report.files.len(),
            progress::group(rows as i64),
            started.elapsed().as_secs_f64(),
            args.scale,
            args.seed
        );
    }
    Ok(())
}
