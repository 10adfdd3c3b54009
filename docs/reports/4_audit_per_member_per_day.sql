-- Writes per member per day (UTC); writes made without an API key count under the database role.
SELECT f.name AS firm, (a.at AT TIME ZONE 'UTC')::date AS day,
       coalesce(m.name, 'role ' || a.db_role) AS who,
       count(*) AS writes, count(*) FILTER (WHERE a.action = 'DELETE') AS deletes
  FROM esqase_report.audit_log a
  JOIN esqase_report.firms f ON f.id = a.firm_id
  LEFT JOIN esqase_report.members m ON m.firm_id = a.firm_id AND m.id = a.member_id
 GROUP BY f.name, day, who
 ORDER BY f.name, day, who;
