
-------------------------------------------------------------------------------
-- 39 Lists: the page query and filtered count of every list, generated from
-- one definition.  The parameters, cursors and the folded parts of the
-- query are in 10_core.sql (list_request, list_match, list_key, ...); what
-- each list matches is its _matching function, in its resource's file.
-------------------------------------------------------------------------------

-- The page query and the filtered count of every list, written once and
-- generated at install time for each list from its _matching function
-- (the records the context sees that match the request's filters):
--   esqase.contacts_keys,       esqase.contacts_count
--   esqase.practice_areas_keys, esqase.practice_areas_count
--   esqase.matter_types_keys,   esqase.matter_types_count
--   esqase.matters_keys,        esqase.matters_count
--   esqase.leads_keys,          esqase.leads_count
--   esqase.members_keys,        esqase.members_count
-- Plain PL/pgSQL functions with cached plans, no EXECUTE on the request
-- path; force_custom_plan so that each request's plan is folded to its
-- filters and order (see list_request).  _keys returns the page's keys
-- (one more than the limit); _count the exact number of matching records.
DO $$
DECLARE
    list text;
BEGIN
    FOREACH list IN ARRAY ARRAY['contacts', 'practice_areas', 'matter_types', 'matters', 'leads', 'members'] LOOP
        EXECUTE format($f$
CREATE FUNCTION esqase.%1$s_keys(firm uuid, r esqase.page_request) RETURNS esqase.page_key[]
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN ARRAY(SELECT esqase.list_key(r, k.created_at, k.updated_at, k.name, k.rank, k.id, k.deleted_at)
                   FROM esqase.%1$s_matching(firm, r) k
                  WHERE esqase.list_after(r, k.created_at, k.updated_at, k.name, k.rank, k.id)
                  ORDER BY esqase.sort_rank(r, k.rank) DESC,
                           esqase.sort_at(r, false, k.created_at, k.updated_at),
                           esqase.sort_at(r, true, k.created_at, k.updated_at) DESC,
                           esqase.sort_name(r, false, k.name), esqase.sort_name(r, true, k.name) DESC,
                           esqase.sort_id(r, false, k.id), esqase.sort_id(r, true, k.id) DESC
                  LIMIT r.lim + 1 OFFSET r.off);
END
$b$
$f$, list);
        EXECUTE format($f$
CREATE FUNCTION esqase.%1$s_count(firm uuid, r esqase.page_request) RETURNS bigint
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN (SELECT count(*) FROM esqase.%1$s_matching(firm, r) k);
END
$b$
$f$, list);
    END LOOP;
END
$$;
