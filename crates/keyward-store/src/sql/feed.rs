//! The change feed: appending a row inside a writing transaction, reading it back in
//! order, and pruning old rows.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::models::{decode_subject, encode_subject};
use super::schema::changes;
use super::{from_db_time, map_err, to_db_time, Db, DieselStore};
use crate::{Change, ChangeFeed, ChangeSubject, StoreResult};

/// Appends a change-feed entry inside the caller's transaction.
pub(super) fn record_change(
    conn: &mut Db,
    subject: &ChangeSubject,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (kind, value) = encode_subject(subject);
    diesel::insert_into(changes::table)
        .values((
            changes::subject_kind.eq(kind),
            changes::subject.eq(value),
            changes::at.eq(to_db_time(now)),
        ))
        .execute(conn)
        .map_err(map_err)?;
    Ok(())
}

/// Changes after `after`, oldest first, at most `limit`
/// ([`LiveSource::changes_since`](crate::LiveSource::changes_since)).
pub(super) fn changes_since(conn: &mut Db, after: i64, limit: i64) -> StoreResult<Vec<Change>> {
    let rows: Vec<(i64, String, String, NaiveDateTime)> = changes::table
        .filter(changes::seq.gt(after))
        .order(changes::seq.asc())
        .limit(limit)
        .select((
            changes::seq,
            changes::subject_kind,
            changes::subject,
            changes::at,
        ))
        .load(conn)
        .map_err(map_err)?;
    Ok(rows
        .into_iter()
        .map(|(seq, kind, subject, at)| Change {
            seq,
            subject: decode_subject(&kind, &subject),
            at: from_db_time(at),
        })
        .collect())
}

/// The newest change's sequence number, 0 when none
/// ([`LiveSource::latest_change`](crate::LiveSource::latest_change)).
pub(super) fn latest_change(conn: &mut Db) -> StoreResult<i64> {
    changes::table
        .select(diesel::dsl::max(changes::seq))
        .first::<Option<i64>>(conn)
        .map(|m| m.unwrap_or(0))
        .map_err(map_err)
}

/// Whether the database file can be read: the newest change, if any. (`SELECT 1` would
/// not touch the file; reading a table does.)
pub(super) fn touch(conn: &mut Db) -> StoreResult<()> {
    changes::table
        .select(changes::seq)
        .order(changes::seq.desc())
        .first::<i64>(conn)
        .optional()
        .map(|_| ())
        .map_err(map_err)
}

impl ChangeFeed for DieselStore {
    fn prune_changes(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        // No change row: pruning changes nothing a reader could cache. Keeping the newest
        // row needs no lock: a row appended concurrently is newer still, so it is kept too.
        self.write(|conn| {
            let newest = latest_change(conn)?;
            diesel::delete(
                changes::table
                    .filter(changes::at.lt(to_db_time(before)))
                    .filter(changes::seq.lt(newest)),
            )
            .execute(conn)
            .map_err(map_err)
        })
    }
}
