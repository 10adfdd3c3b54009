
-------------------------------------------------------------------------------
-- 97 Comments on every table and column of schema esqase, for whoever reads
-- the tables in SQL (\d+ in psql): plain words, and the API field a column
-- serves where there is one.  Kept in one list, the tables of
-- sql/registry.pl, so that a column without a comment stands out;
-- test/sql/80_catalog.sql lists any table or column of the schema that has
-- none.  The columns most tables share are worded once (common) and named
-- by each table that has them.
-------------------------------------------------------------------------------

-- @generate comments
