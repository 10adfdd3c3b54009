
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
CREATE OR REPLACE FUNCTION esqase.%1$s_keys(firm uuid, r esqase.page_request) RETURNS esqase.page_key[]
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
CREATE OR REPLACE FUNCTION esqase.%1$s_count(firm uuid, r esqase.page_request) RETURNS bigint
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_custom_plan AS $b$
BEGIN
    RETURN (SELECT count(*) FROM esqase.%1$s_matching(firm, r) k);
END
$b$
$f$, list);
    END LOOP;
END
$$;

-- The list functions, esqase.<list>_list(params jsonb) RETURNS json, written
-- once and generated here for each list (the public esqase_<list>_list wrap
-- them, 92_public_api.sql):
--   esqase.contacts_list, esqase.practice_areas_list, esqase.matter_types_list,
--   esqase.matters_list, esqase.leads_list, esqase.members_list
-- A plain list (no filter, no order) reads its page's keys by an index-only
-- scan of (firm_id, created_at, id) under a generic plan, then renders only
-- those rows, with the maintained total (record_counts); any other is
-- <list>_keys and <list>_count.  Matter types (of one practice area) and
-- members are few: their total is always counted, by index.  What differs
-- per list is data below: its resource as the API names it, which rows a
-- plain list shows (besides firm_id; the table's alias is t), its renderer,
-- its plain total, and a check before the page.
DO $$
DECLARE
    l text[];
BEGIN
    FOREACH l SLICE 1 IN ARRAY ARRAY[
            ['contacts', 'contacts',
             't.deleted_at IS NULL AND (t.hidden_by_lead IS NULL OR esqase.context_is_owner()
                                OR t.hidden_by_lead IN (SELECT esqase.assigned_leads()))',
             'contact_docs', 'esqase.contacts_total(firm)', ''],
            ['practice_areas', 'practice-areas', 't.deleted_at IS NULL',
             'practice_area_docs', 'esqase.record_total(firm, ''practice_areas'')', ''],
            ['matter_types', 'matter-types', 't.practice_area_id = page.area AND t.deleted_at IS NULL',
             'matter_type_docs', 'esqase.matter_types_count(firm, page)',
             'IF NOT esqase.practice_area_live(firm, page.area) THEN
        PERFORM esqase.fail(''P0002'', format(''practice area %s not found'', page.area), ''practiceAreaId'');
    END IF;'],
            ['matters', 'matters', 't.deleted_at IS NULL',
             'matter_docs', 'esqase.record_total(firm, ''matters'')', ''],
            ['leads', 'leads',
             't.deleted_at IS NULL AND (NOT t.is_private OR esqase.context_is_owner()
                                OR t.id IN (SELECT esqase.assigned_leads()))',
             'lead_docs', 'esqase.leads_total(firm)', ''],
            ['members', 'members', 'true', 'member_docs', 'esqase.members_count(firm, page)', '']] LOOP
        EXECUTE format($f$
CREATE OR REPLACE FUNCTION esqase.%1$s_list(params jsonb) RETURNS json
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $b$
DECLARE
    firm uuid := esqase.api_access(%2$L, 'read');
    page esqase.page_request := esqase.list_request(params, %2$L);
    keys esqase.page_key[];
BEGIN
    %6$s
    IF page.plain THEN
        keys := ARRAY(SELECT ROW(k.created_at, k.id, NULL, NULL, NULL)::esqase.page_key
                       FROM (SELECT t.created_at, t.id FROM esqase.%1$s t
                         WHERE t.firm_id = firm AND %3$s
                           AND (t.created_at, t.id) > ((page.after).at, (page.after).id)
                         ORDER BY t.created_at, t.id LIMIT page.lim + 1 OFFSET page.off) k);
    ELSE
        keys := esqase.%1$s_keys(firm, page);
    END IF;
    RETURN esqase.list_json(%1$L, page, keys,
        (SELECT json_agg(esqase.list_doc(page, keys[d.n], d.doc) ORDER BY d.n)
           FROM esqase.%4$s(firm, esqase.page_ids(keys, page.lim)) d),
        CASE WHEN NOT esqase.list_filtered(page) THEN %5$s ELSE esqase.%1$s_count(firm, page) END);
END
$b$
$f$, l[1], l[2], l[3], l[4], l[5], l[6]);
    END LOOP;
END
$$;
