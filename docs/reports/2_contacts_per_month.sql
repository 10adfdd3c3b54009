-- Contacts created per month (UTC), and how many of them were deleted since.
SELECT f.name AS firm, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       count(*) AS created, count(c.deleted_at) AS deleted_since
  FROM esqase_report.contacts c
  JOIN esqase_report.firms f ON f.id = c.firm_id
 GROUP BY f.name, month
 ORDER BY f.name, month;
