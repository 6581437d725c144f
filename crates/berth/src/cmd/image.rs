//! `berth image`: the local image store, shared with `berth server` through the data directory.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::image::ArchiveFormat;
use clap::{Subcommand, ValueEnum};

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
    /// Remove images; layers no image or container uses any more are deleted.
    Rm {
        /// Untag the image even if containers use it (their layers stay until they go).
        #[arg(short = 'f', long)]
        force: bool,
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Import the images of an OCI image layout or `docker save` archive (tar, tar.gz or
    /// tar.zst), named as the archive names them.
    Import {
        /// The archive; `-` reads standard input.
        file: PathBuf,
        /// Name the archive's image (it must hold exactly one) with this reference instead.
        #[arg(long, short)]
        tag: Option<String>,
    },
    /// Export images into one archive.
    Export {
        #[arg(required = true)]
        references: Vec<String>,
        /// The archive to write; `-` writes standard output.
        #[arg(long, short)]
        output: PathBuf,
        /// OCI image layout, or `docker save` format (for `docker load`).
        #[arg(long, value_enum, default_value_t = Format::Oci)]
        format: Format,
    },
    /// Give an image a further reference.
    Tag { source: String, target: String },
    /// Delete layers and blobs no image uses, and leftovers of interrupted operations.
    Prune,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Oci,
    Docker,
}

impl From<Format> for ArchiveFormat {
    fn from(f: Format) -> ArchiveFormat {
        match f {
            Format::Oci => ArchiveFormat::Oci,
            Format::Docker => ArchiveFormat::Docker,
        }
    }
}

pub async fn run(args: ImageArgs) -> anyhow::Result<()> {
    let store = berth_runtime::ImageStore::open(&args.data_dir)
        .with_context(|| format!("opening the image store in {}", args.data_dir.display()))?;
    match args.command {
        ImageCommand::Pull { reference } => {
            let image = super::pull_progress::pull(&store, &reference)
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
        ImageCommand::Rm { references, force } => {
            let engine = berth_runtime::container::Containers::open(&args.data_dir)?;
            for reference in references {
                let image = store
                    .get(&reference)?
                    .with_context(|| format!("no such image: {reference}"))?;
                if !force {
                    if let Some(c) = engine
                        .list()?
                        .into_iter()
                        .find(|c| c.record.image_digest == image.digest)
                    {
                        anyhow::bail!(
                            "unable to remove {reference}: image is being used by container {} ({}); remove the container first, or use -f",
                            c.record.name,
                            &c.record.id[..12]
                        );
                    }
                }
                let keep = engine.images_in_use()?;
                store
                    .remove_except(&reference, &keep)
                    .with_context(|| format!("removing {reference}"))?;
                println!("Untagged: {reference}");
            }
        }
        ImageCommand::Import { file, tag } => {
            // Blocking file work: keep it off the runtime's async workers.
            let images = tokio::task::block_in_place(|| {
                if file.as_os_str() == "-" {
                    store.import(std::io::stdin().lock(), tag.as_deref())
                } else {
                    store.import_file(&file, tag.as_deref())
                }
            })
            .with_context(|| format!("importing {}", file.display()))?;
            for image in images {
                println!("Loaded image: {} ({})", image.reference, image.digest);
            }
        }
        ImageCommand::Export {
            references,
            output,
            format,
        } => {
            tokio::task::block_in_place(|| {
                if output.as_os_str() == "-" {
                    let stdout = std::io::stdout();
                    if stdout.is_terminal() {
                        anyhow::bail!("refusing to write an archive to a terminal");
                    }
                    let w = std::io::BufWriter::new(stdout.lock());
                    Ok(store.export(&references, w, format.into()).map(drop)?)
                } else {
                    Ok(store.export_to_file(&references, &output, format.into())?)
                }
            })
            .with_context(|| format!("exporting to {}", output.display()))?;
            if output.as_os_str() != "-" {
                println!("Exported {} to {}", references.join(", "), output.display());
            }
        }
        ImageCommand::Tag { source, target } => {
            let image = store
                .tag(&source, &target)
                .with_context(|| format!("tagging {source} as {target}"))?;
            println!("Tagged {} ({})", image.reference, image.digest);
        }
        ImageCommand::Prune => {
            let keep =
                berth_runtime::container::Containers::open(&args.data_dir)?.images_in_use()?;
            let pruned =
                tokio::task::block_in_place(|| store.prune_except(&keep)).context("pruning")?;
            println!(
                "Deleted {} blobs, {} layer snapshots, {} leftover temp files",
                pruned.blobs, pruned.snapshots, pruned.temp
            );
            println!("Total reclaimed space: {}", human_size(pruned.bytes));
        }
    }
    std::io::stdout()
        .flush()
        .context("writing to standard output")?;
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
