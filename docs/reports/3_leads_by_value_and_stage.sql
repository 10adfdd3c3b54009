-- Live pending leads by value (highest first) and pipeline stage.
SELECT f.name AS firm, coalesce(l.value, '(none)') AS value, ls.name AS stage, count(*) AS leads
  FROM esqase_report.leads l
  JOIN esqase_report.lead_stages ls ON ls.firm_id = l.firm_id AND ls.id = l.stage_id
  JOIN esqase_report.firms f ON f.id = l.firm_id
 WHERE l.deleted_at IS NULL AND l.status = 'PENDING'
 GROUP BY f.name, l.value_rank, l.value, ls.sort_order, ls.name
 ORDER BY f.name, l.value_rank DESC NULLS LAST, ls.sort_order;
