-- esqase 0.1.0 -> 0.2.0.  Run by ALTER EXTENSION esqase UPDATE, after the
-- 0.2.0 library is installed and the server restarted (docs/operations.md).
-- test/t/091_upgrade.pl checks that 0.1.0 + this script gives the same
-- catalog as a fresh 0.2.0 install.
\echo Use "ALTER EXTENSION esqase UPDATE TO '0.2.0'" to load this file. \quit
