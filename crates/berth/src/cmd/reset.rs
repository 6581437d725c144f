//! `berth reset`: stop every container of the data directory and remove what Berth set up on
//! this machine for it; images and cluster data stay.

use super::container::DataDir;

/// `berth reset`.
#[derive(clap::Args, Debug)]
pub struct ResetArgs {
    #[command(flatten)]
    pub data: DataDir,
}

/// Returns 1 when something could not be cleaned (each problem is printed).
pub async fn run(args: ResetArgs) -> anyhow::Result<i32> {
    if !args.data.data_dir.exists() {
        anyhow::bail!("no data directory at {}", args.data.data_dir.display());
    }
    let report = berth_runtime::reset::reset(&args.data.data_dir).await;
    // The service proxy's rules go with the bridges (no nft, or no table: nothing to do).
    let proxy_removed = berth_net::proxy::remove().await.is_ok();
    println!(
        "removed {} containers, {} sandboxes, {} bridges{}; killed {} stray shims; unmounted {} leftover mounts; removed {} cgroup parents{}",
        report.containers,
        report.sandboxes,
        report.bridges.len(),
        if report.bridges.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.bridges.join(", "))
        },
        report.stray_shims,
        report.mounts,
        report.cgroups,
        if proxy_removed { "; removed the service rules" } else { "" }
    );
    for e in &report.errors {
        eprintln!("berth: reset: {e}");
    }
    Ok(if report.errors.is_empty() { 0 } else { 1 })
}
