-- How far the change feed has been pruned: a reader positioned below `pruned_through`
-- missed changes and must start over (the store tells it with an `Unknown` change).
-- Sequence numbers are not assumed dense: on PostgreSQL they are not.
CREATE TABLE change_feed (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    pruned_through BIGINT NOT NULL
);
-- SQLite's sequence numbers are dense, so what was pruned before this migration is
-- everything below the oldest row left.
INSERT INTO change_feed (id, pruned_through)
    SELECT 1, COALESCE(MIN(seq), (SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)) - 1 FROM changes;
