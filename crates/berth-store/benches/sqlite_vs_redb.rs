//! The short benchmark behind the embedded store's choice of SQLite over redb: durable
//! (fsync-per-commit) writes one per commit and in group-commit batches, and the cold load of
//! every key at start, which is all the embedded backend asks of its database.
//!
//! Run: `cargo bench -p berth-store --bench sqlite_vs_redb`

// A benchmark that cannot set up its databases should abort, not carry on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use rusqlite::params;

const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const VALUE: &[u8] = &[b'x'; 1024];

fn sqlite_open(path: &std::path::Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).expect("open sqlite");
    c.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
    )
    .expect("schema");
    c
}

fn sqlite_writes(
    c: &mut rusqlite::Connection,
    commits: usize,
    per_commit: usize,
    tag: &str,
) -> Duration {
    let start = Instant::now();
    for i in 0..commits {
        let tx = c.transaction().expect("tx");
        {
            let mut st = tx
                .prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")
                .expect("prepare");
            for j in 0..per_commit {
                st.execute(params![format!("/registry/{tag}/{i}/{j}"), VALUE])
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

fn redb_writes(db: &redb::Database, commits: usize, per_commit: usize, tag: &str) -> Duration {
    let start = Instant::now();
    for i in 0..commits {
        let tx = db.begin_write().expect("tx");
        {
            let mut t = tx.open_table(TABLE).expect("table");
            for j in 0..per_commit {
                t.insert(format!("/registry/{tag}/{i}/{j}").as_str(), VALUE)
                    .expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:>9.0}/s", n as f64 / d.as_secs_f64())
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sp = dir.path().join("bench.sqlite");
    let rp = dir.path().join("bench.redb");
    let mut sq = sqlite_open(&sp);
    let rb = redb::Database::create(&rp).expect("redb");

    println!("durable writes of 1 KiB values (fsync per commit), same disk, same run\n");
    println!("| scenario | SQLite (WAL, synchronous=FULL) | redb (Durability::Immediate) |");
    println!("|---|---|---|");
    let (c, n) = (300, 1);
    let s = sqlite_writes(&mut sq, c, n, "single");
    let r = redb_writes(&rb, c, n, "single");
    println!(
        "| 1 write per commit ({c} commits) | {} | {} |",
        rate(c * n, s),
        rate(c * n, r)
    );
    let (c, n) = (100, 100);
    let s = sqlite_writes(&mut sq, c, n, "batch");
    let r = redb_writes(&rb, c, n, "batch");
    println!(
        "| 100 writes per commit ({c} commits) | {} | {} |",
        rate(c * n, s),
        rate(c * n, r)
    );

    drop(sq);
    drop(rb);
    let start = Instant::now();
    let sq = sqlite_open(&sp);
    let mut st = sq.prepare("SELECT key, value FROM kv").expect("select");
    let rows = st
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })
        .expect("query")
        .count();
    let s = start.elapsed();
    let start = Instant::now();
    let rb = redb::Database::create(&rp).expect("redb");
    let tx = rb.begin_read().expect("read");
    let t = tx.open_table(TABLE).expect("table");
    let rrows = t.iter().expect("iter").count();
    let r = start.elapsed();
    println!(
        "| cold load of all keys ({rows} / {rrows}) | {:.1} ms | {:.1} ms |",
        s.as_secs_f64() * 1e3,
        r.as_secs_f64() * 1e3
    );
    let size = |p: &std::path::Path| {
        let wal = p.with_extension("sqlite-wal");
        std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    };
    println!(
        "| file size after the run | {:.1} MiB | {:.1} MiB |",
        size(&sp) as f64 / 1048576.0,
        std::fs::metadata(&rp).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0
    );
}
