-- Open matters whose statute-of-limitations date has passed, oldest first.
SELECT f.name AS firm, m.public_id, m.title, pa.name AS practice_area, m.sol_date,
       current_date - m.sol_date AS days_past
  FROM esqase_report.matters m
  JOIN esqase_report.practice_areas pa ON pa.firm_id = m.firm_id AND pa.id = m.practice_area_id
  JOIN esqase_report.firms f ON f.id = m.firm_id
 WHERE m.deleted_at IS NULL AND m.status <> 'ARCHIVE' AND m.close_date IS NULL
   AND m.sol_date < current_date
 ORDER BY m.sol_date, f.name, m.public_id;
