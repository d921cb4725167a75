//! The ledger's schema as an ordered list of migrations, applied once each and counted in
//! SQLite's `user_version`. A migration, once released, is never edited: changes are new entries.

use rusqlite::{Connection, TransactionBehavior};

/// Every migration in order; the schema version of a file is how many of them it has had.
const MIGRATIONS: &[&str] = &[
    // 1: orders and per-connection watermarks
    "CREATE TABLE orders (
        reference       TEXT PRIMARY KEY NOT NULL,
        sequence        INTEGER NOT NULL UNIQUE,
        connection      TEXT NOT NULL,
        delivery        TEXT NOT NULL,
        position        INTEGER NOT NULL,
        assignment_id   TEXT,
        resource_type   TEXT NOT NULL,
        change_type     TEXT NOT NULL,
        owner_id        TEXT NOT NULL,
        owner_type      TEXT NOT NULL,
        order_json      TEXT NOT NULL,
        ticket          TEXT,
        stage           TEXT NOT NULL
                        CHECK (stage IN ('received', 'creating', 'open', 'finished', 'reported')),
        outcome         TEXT,
        state           TEXT,
        message         TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL,
        opened_at       TEXT,
        last_poll       TEXT,
        last_error      TEXT,
        reported_at     TEXT,
        report_location TEXT
    );
    CREATE INDEX orders_by_stage ON orders (connection, stage, sequence);
    CREATE UNIQUE INDEX orders_by_ticket ON orders (connection, ticket) WHERE ticket IS NOT NULL;
    CREATE TABLE watermarks (
        connection TEXT PRIMARY KEY NOT NULL,
        watermark  TEXT,
        updated_at TEXT NOT NULL
    );",
    // 2: the result batch a finished order was assigned to before its publish
    "ALTER TABLE orders ADD COLUMN batch TEXT;",
];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Brings the file up to [`SCHEMA_VERSION`] in one transaction; a file already there is left
/// untouched. A file from a newer build is refused rather than guessed at.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), String> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| e.to_string())?;
    let current: u32 =
        tx.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(|e| e.to_string())?;
    if current > SCHEMA_VERSION {
        return Err(format!(
            "schema version {current} is newer than this agent's {SCHEMA_VERSION}; use a newer agent"
        ));
    }
    if current == SCHEMA_VERSION {
        return Ok(());
    }

    for (index, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let version = index + 1;
        tx.execute_batch(sql).map_err(|e| format!("migration {version} failed: {e}"))?;
        // PRAGMA takes no bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {version}")).map_err(|e| e.to_string())?;
        tracing::info!(version, "ledger schema migrated");
    }
    tx.commit().map_err(|e| e.to_string())
}
