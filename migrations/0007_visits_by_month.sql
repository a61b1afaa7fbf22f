-- A client's visits are read a month at a time (the beyond-granted flag,
-- the settlement), through the (month, client) index; the (client, date)
-- index only cost every import one more B-tree to keep.
--
-- On SQLite the table is then rebuilt clustered by (month, client, provider,
-- external id), WITHOUT ROWID, so a month's visits lie together in client
-- order (src/db.rs, `cluster_visits`): a storage choice only, same columns,
-- keys and constraints. See docs/architecture.md.
DROP INDEX visits_client_date;
