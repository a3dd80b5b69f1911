//! Pagination: keyset cursors over (created_at, id), sort order and page limits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};

use crate::ValidationError;

/// One page of a list and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// The order of a list by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first (the default).
    #[default]
    Desc,
}

impl SortOrder {
    /// Parses `asc` or `desc`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(ValidationError::new("order", "must be `asc` or `desc`")),
        }
    }
}

/// How many items a page holds: 1 to 200, 50 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    /// The largest page.
    pub const MAX: u16 = 200;

    /// Parses `?limit=`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        match text.parse::<u16>() {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(ValidationError::new(
                "limit",
                "must be a whole number from 1 to 200",
            )),
        }
    }

    /// The largest page, for callers that walk a whole list.
    pub fn largest() -> Self {
        Self(Self::MAX)
    }

    /// The limit as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(50)
    }
}

/// An opaque position in a list: the (created_at, id) of the last item shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Creation time of the last item shown.
    pub created_at: DateTime<Utc>,
    /// Storage id of the last item shown (tie-breaker).
    pub id: i64,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        let raw = format!("{}.{}", self.created_at.timestamp_micros(), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Parses a cursor handed back by a client.
    pub fn decode(text: &str) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("cursor", "is not a cursor this server handed out");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let raw = String::from_utf8(raw).map_err(|_| bad())?;
        let (micros, id) = raw.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        let created_at = DateTime::<Utc>::from_timestamp_micros(micros).ok_or_else(bad)?;
        Ok(Self { created_at, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = Cursor {
            created_at: DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456)
                .unwrap_or_default(),
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Ok(c));
        for bad in ["", "!!", "bm9wZQ", "MS4y.x"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(PageLimit::default().get(), 50);
        assert!(PageLimit::parse("200").is_ok());
        for bad in ["0", "201", "-1", "x", ""] {
            assert!(PageLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
