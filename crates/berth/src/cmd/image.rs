//! `berth image`: the local image store, shared with `berth server` through the data directory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

#[derive(clap::Args)]
pub struct ImageArgs {
    /// The data directory whose image store to use.
    #[arg(
        long,
        env = "BERTH_DATA_DIR",
        default_value = "/var/lib/berth",
        global = true
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Pull an image from a registry (plain HTTP for localhost registries).
    Pull { reference: String },
    /// List images.
    Ls,
    /// Show an image as JSON.
    Inspect { reference: String },
    /// Remove images; layers no image uses any more are deleted.
    Rm {
        #[arg(required = true)]
        references: Vec<String>,
    },
}

pub async fn run(args: ImageArgs) -> anyhow::Result<()> {
    let store = berth_runtime::ImageStore::open(&args.data_dir)
        .with_context(|| format!("opening the image store in {}", args.data_dir.display()))?;
    match args.command {
        ImageCommand::Pull { reference } => {
            let image = store
                .pull(&reference)
                .await
                .with_context(|| format!("pulling {reference}"))?;
            println!("{}: pulled {}", image.reference, image.digest);
        }
        ImageCommand::Ls => {
            println!("{:<60} {:<14} {:>8}", "REFERENCE", "IMAGE ID", "SIZE");
            for image in store.list()? {
                let id = image.config_digest.trim_start_matches("sha256:");
                println!(
                    "{:<60} {:<14} {:>8}",
                    image.reference,
                    id.get(..12).unwrap_or(id),
                    human_size(image.size)
                );
            }
        }
        ImageCommand::Inspect { reference } => {
            let image = store
                .get(&reference)?
                .with_context(|| format!("no such image: {reference}"))?;
            println!("{}", serde_json::to_string_pretty(&image)?);
        }
        ImageCommand::Rm { references } => {
            for reference in references {
                store
                    .remove(&reference)
                    .with_context(|| format!("removing {reference}"))?;
                println!("Untagged: {reference}");
            }
        }
    }
    Ok(())
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.1}{}", UNITS[unit])
    }
}
