//! Durable current state in SQLite (WAL, `synchronous=FULL`: a commit is on disk when it
//! returns). One row per live key plus the store revision; history is never written, so the
//! file tracks the size of the live data.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use rusqlite::{params, Connection};

use crate::{EventKind, KeyValue, Result, Revision, StoreError, WatchEvent};

pub(crate) struct Db {
    conn: Option<Connection>,
}

fn backend(context: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("{context}: {e}"))
}

impl Db {
    pub(crate) fn open(path: &Path) -> Result<(Db, BTreeMap<String, KeyValue>, Revision)> {
        let conn = Connection::open(path).map_err(backend("opening the database"))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS kv (
                 key TEXT PRIMARY KEY,
                 value BLOB NOT NULL,
                 create_rev INTEGER NOT NULL,
                 mod_rev INTEGER NOT NULL,
                 version INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
        )
        .map_err(backend("preparing the database"))?;
        let revision: Revision = conn
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(0),
                e => Err(e),
            })
            .map_err(backend("reading the revision"))?;
        let mut kvs = BTreeMap::new();
        {
            let mut stmt = conn
                .prepare("SELECT key, value, create_rev, mod_rev, version FROM kv")
                .map_err(backend("loading keys"))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(KeyValue {
                        key: r.get(0)?,
                        value: Bytes::from(r.get::<_, Vec<u8>>(1)?),
                        create_revision: r.get(2)?,
                        mod_revision: r.get(3)?,
                        version: r.get(4)?,
                    })
                })
                .map_err(backend("loading keys"))?;
            for kv in rows {
                let kv = kv.map_err(backend("loading a key"))?;
                kvs.insert(kv.key.clone(), kv);
            }
        }
        Ok((Db { conn: Some(conn) }, kvs, revision))
    }

    /// Write a batch of events and the new revision in one transaction.
    pub(crate) fn commit(&mut self, events: &[WatchEvent], revision: Revision) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(StoreError::Closed)?;
        let tx = conn.transaction().map_err(backend("beginning a commit"))?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO kv (key, value, create_rev, mod_rev, version)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(backend("preparing a write"))?;
            let mut del = tx
                .prepare_cached("DELETE FROM kv WHERE key = ?1")
                .map_err(backend("preparing a delete"))?;
            for ev in events {
                let kv = &ev.kv;
                match ev.kind {
                    EventKind::Put => put.execute(params![
                        kv.key,
                        kv.value.as_ref(),
                        kv.create_revision,
                        kv.mod_revision,
                        kv.version
                    ]),
                    EventKind::Delete => del.execute(params![kv.key]),
                }
                .map_err(backend("writing"))?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('revision', ?1)",
                params![revision],
            )
            .map_err(backend("writing the revision"))?;
        }
        tx.commit().map_err(backend("committing"))
    }

    pub(crate) fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Err((_, e)) = conn.close() {
                tracing::warn!(error = %e, "closing the database");
            }
        }
    }
}
