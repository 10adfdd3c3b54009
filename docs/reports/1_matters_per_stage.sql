-- Live matters per practice area and stage, stages in board order (empty stages show 0).
SELECT f.name AS firm, pa.name AS practice_area, st.name AS stage, count(m.id) AS matters
  FROM esqase_report.practice_area_stages st
  JOIN esqase_report.practice_areas pa ON pa.firm_id = st.firm_id AND pa.id = st.practice_area_id
  JOIN esqase_report.firms f ON f.id = st.firm_id
  LEFT JOIN esqase_report.matters m
         ON m.firm_id = st.firm_id AND m.stage_id = st.id AND m.deleted_at IS NULL
 WHERE pa.deleted_at IS NULL
 GROUP BY f.name, pa.name, pa.id, st.sort_order, st.name
 ORDER BY f.name, pa.name, st.sort_order;
