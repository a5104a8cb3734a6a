"""Search with PostgreSQL alone: full-text search over ``project_search``, trigrams for typos.

What is in the table and how it is kept current: :mod:`warehouse.search.indexing`.
"""

from __future__ import annotations

import dataclasses
import functools

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm
from zope.interface import implementer

from warehouse.search.indexing import CLASSIFIER_TERM, TEXT_SEARCH_CONFIG, reindex_projects
from warehouse.search.interfaces import ORDERS, ISearchService, SearchHit, SearchResults

MAX_QUERY_LENGTH = 200
MAX_PER_PAGE = 100
# Deep pages cost an ever larger OFFSET and nobody reads them.
MAX_PAGE = 500

# Ranking every match of a common word ("python" is in most descriptions) would cost time in
# proportion to the whole index. The work per query is bounded instead:
#
# * "strong" matches — the query's words in the name, summary or keywords (``head``), a name
#   similar to the query (trigrams), or the exact name — are ranked by ``ts_rank`` on the
#   small ``head`` vector plus name similarity. At most the newest STRONG_CANDIDATES head
#   matches and SIMILAR_CANDIDATES similar names are ranked;
# * names similar to the query are looked for only when its words are in fewer than
#   TYPO_THRESHOLD heads: a misspelled name matches no words, while a common word ("python")
#   is part of thousands of names, and checking each for similarity is what would be slow;
# * every other match (words only in the description, or older head matches beyond that
#   bound) follows, newest first, found through the GIN index on ``document``;
# * totals are exact up to COUNT_LIMIT and reported as "at least" beyond it. Counting
#   reads the GIN posting lists of the query's words, which for the most common words is
#   most of a query's cost; when the planner's estimate (from the words' statistics) is
#   far beyond the limit, the count is skipped and the total is just "COUNT_LIMIT+".
STRONG_CANDIDATES = 300
SIMILAR_CANDIDATES = 100
TYPO_THRESHOLD = 20
COUNT_LIMIT = 10_000
# How far beyond COUNT_LIMIT the estimate must be to be trusted without counting.
ESTIMATE_FACTOR = 2


def normalize_query(query: str | None) -> str:
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


_TSQUERY = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :text)"
# For the full document, "quoted phrases" count as their words: checking word positions would
# mean reading every candidate's document, which the GIN index otherwise spares us. Phrases
# are still phrases in names, summaries and keywords, which rank first.
_DOCUMENT_TSQUERY = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', translate(:text, '\"', ' '))"
_DISPLAY = "s.name, s.normalized_name, s.version, s.summary, s.created"

# The templates below take (see _statement):
#   {f}            classifier filters on ``s`` (the in-row prefix array), or nothing;
#   {document}     the condition that ``s.document`` matches the words (and the classifiers,
#                  as terms, so that the GIN index answers both and no document is read);
#   {classified}   the classifiers alone, as document terms (or ``true``);
#   {direction}    ASC or DESC;
#   {heads_order}  what heads are ordered by (see below).

# Every query with words starts from these candidates:
#   heads    the newest STRONG_CANDIDATES projects whose name, summary or keywords hold the
#            words;
#   similar_names  the exact name, and names most like the query (typos) — looked for only when
#            the words are in fewer than TYPO_THRESHOLD heads, so PostgreSQL skips the
#            trigram scan (a one-time filter) for common words.
# Heads are found either by walking the date index until enough rows match (cheap when the
# words are common) or through the GIN index and a sort (cheap when they are not). The
# planner underrates the walk's cost per row, so the choice is made from its estimate of
# the matches (``{heads_order}``: an expression the date index cannot serve forbids the walk).
# The same holds for the documents' matches (``{documents_order}``), where the planner's own
# estimate cannot be trusted either: a word in no document or a few is estimated at a
# default share of the rows (1,139 of 700,000), the walk looks cheap, and it reads and
# decompresses every document (6 s at 700,000 projects). Those matches are counted first
# (through the GIN index, up to COUNT_LIMIT), and walked only when there are more.
_CANDIDATES = f"""
WITH heads AS MATERIALIZED (
    SELECT s.project_id FROM project_search s
    WHERE s.head @@ {_TSQUERY} {{f}}
    ORDER BY {{heads_order}} DESC LIMIT :strong_candidates
),
similar_names AS MATERIALIZED (
    (SELECT s.project_id FROM project_search s
     WHERE s.name % :text {{f}} AND (SELECT count(*) FROM heads) < :typo_threshold
     ORDER BY similarity(s.name, :text) DESC LIMIT :similar_candidates)
    UNION
    (SELECT s.project_id FROM project_search s WHERE s.normalized_name = :exact {{f}})
),
strong AS (SELECT project_id FROM heads UNION SELECT project_id FROM similar_names)
"""

TEMPLATES = {
    # One page of strong matches, best first, with how many strong matches there are and
    # how many of them the words do not match (see outside_document_count).
    "strong_page": f"""{_CANDIDATES}
        SELECT {_DISPLAY}, count(*) OVER () AS strong_total,
               count(*) FILTER (
                   WHERE s.project_id IN (SELECT project_id FROM similar_names)
                     AND NOT s.head @@ {_TSQUERY} AND NOT {{document}}
               ) OVER () AS outside_document
        FROM project_search s JOIN strong USING (project_id)
        ORDER BY s.normalized_name = :exact DESC,
                 ts_rank(s.head, {_TSQUERY}) + similarity(s.name, :text) DESC,
                 s.created DESC, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    "strong_count": f"{_CANDIDATES} SELECT count(*) FROM strong",
    # Matches that are not strong, newest first.
    "other_page": f"""{_CANDIDATES}
        SELECT {_DISPLAY} FROM project_search s
        WHERE {{document}} AND s.project_id NOT IN (SELECT project_id FROM strong)
        ORDER BY {{documents_order}} DESC, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    # Every match by date, the exact name first. Both parts are cut at the same window, so
    # the window of their union is right.
    "date_page": f"""{_CANDIDATES}
        SELECT {_DISPLAY} FROM project_search s
        WHERE s.project_id IN (
            (SELECT s.project_id FROM project_search s
             WHERE {{document}} ORDER BY {{documents_order}} {{direction}} LIMIT :window)
            UNION
            (SELECT project_id FROM similar_names)
        )
        ORDER BY s.normalized_name = :exact DESC, s.created {{direction}}, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    "document_count": """
        SELECT count(*) FROM (SELECT 1 FROM project_search s WHERE {document}
                              LIMIT :count_limit) matches
    """,
    "document_estimate": "EXPLAIN (FORMAT JSON) SELECT 1 FROM project_search s WHERE {document}",
    "head_estimate": f"""
        EXPLAIN (FORMAT JSON)
        SELECT 1 FROM project_search s WHERE s.head @@ {_TSQUERY} {{f}}
        UNION ALL SELECT 1 FROM project_search s
    """,
    # Similar names that the words do not match: the only matches outside the GIN count.
    "outside_document_count": f"""{_CANDIDATES}
        SELECT count(*) FROM project_search s JOIN similar_names USING (project_id)
        WHERE NOT s.head @@ {_TSQUERY} AND NOT {{document}}
    """,
    # Without words: everything, or what the classifiers select.
    "browse_page": """
        SELECT s.name, s.normalized_name, s.version, s.summary, s.created
        FROM project_search s WHERE true {f}
        ORDER BY s.created {direction}, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    # Classifiers are counted through their document terms: the GIN index on the prefix
    # array would need every row's array read again to confirm it.
    "browse_count": """
        SELECT count(*) FROM (SELECT 1 FROM project_search s WHERE {classified}
                              LIMIT :count_limit) matches
    """,
    "browse_estimate": "EXPLAIN (FORMAT JSON) SELECT 1 FROM project_search s WHERE {classified}",
}


@functools.cache
def _statement(
    name: str,
    filtered: bool,
    direction: str = "DESC",
    walk_heads: bool = True,
    walk_documents: bool = True,
) -> sa.TextClause:
    """The statement ``name``, built once per variant (building and parsing is not free)."""
    document = f"s.document @@ {_DOCUMENT_TSQUERY}"
    if filtered:
        document = f"s.document @@ ({_DOCUMENT_TSQUERY} && CAST(:classifier_terms AS tsquery))"
    return sa.text(
        TEMPLATES[name].format(
            f="AND s.classifier_prefixes @> CAST(:classifiers AS text[])" if filtered else "",
            document=document,
            direction=direction,
            heads_order="s.created" if walk_heads else _NO_WALK,
            documents_order="s.created" if walk_documents else _NO_WALK,
            classified=("s.document @@ CAST(:classifier_terms AS tsquery)" if filtered else "true"),
        )
    )


# The date order as an expression the date index cannot serve: PostgreSQL then finds the
# matches through the GIN index and sorts them, instead of walking the dates.
_NO_WALK = "s.created + interval '0 seconds'"


def _tsquery_term(term: str) -> str:
    """``term`` as one quoted tsquery lexeme, whatever characters it holds."""
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def _hits(rows) -> list[SearchHit]:
    return [SearchHit(r.name, r.normalized_name, r.version, r.summary, r.created) for r in rows]


@implementer(ISearchService)
class PostgresSearchService:
    # The bounds described above; instances may lower them (tests do).
    strong_candidates = STRONG_CANDIDATES
    similar_candidates = SIMILAR_CANDIDATES
    typo_threshold = TYPO_THRESHOLD
    count_limit = COUNT_LIMIT

    def __init__(self, session: orm.Session):
        self.db = session

    def search(
        self,
        query: str | None,
        classifiers=(),
        order: str = "relevance",
        page: int = 1,
        per_page: int = 20,
    ) -> SearchResults:
        text = normalize_query(query)
        if order not in ORDERS:
            order = "relevance"
        page = max(1, min(int(page), MAX_PAGE))
        per_page = max(1, min(int(per_page), MAX_PER_PAGE))
        classifiers = sorted({c.strip() for c in classifiers if c and c.strip()})
        params: dict[str, object] = {
            "limit": per_page,
            "offset": (page - 1) * per_page,
            "strong_candidates": self.strong_candidates,
            "similar_candidates": self.similar_candidates,
            "typo_threshold": self.typo_threshold,
            "count_limit": self.count_limit,
        }
        if classifiers:
            params["classifiers"] = classifiers
            params["classifier_terms"] = " & ".join(
                _tsquery_term(CLASSIFIER_TERM + c) for c in classifiers
            )
        direction = "ASC" if order == "created" else "DESC"

        # A sequential scan would read (and decompress) every document: use the indexes.
        # JIT compilation costs more than these small plans ever run. The settings are
        # local to the transaction and put back afterwards, so the caller's other queries
        # are planned as usual. (If a query fails, the transaction is rolled back, and the
        # settings with it.)
        previous = self.db.execute(_PLANNER_SETTINGS).one()
        run = _Run(self.db, params, bool(classifiers), direction)
        if not text:
            items, total = run.browse()
        else:
            params.update(text=text, exact=canonicalize_name(text))
            run.choose_heads_plan()
            items, total = run.by_relevance() if order == "relevance" else run.by_date()
        self.db.execute(_PLANNER_RESTORE, {"seqscan": previous.seqscan, "jit": previous.jit})
        return SearchResults(
            total=min(total, self.count_limit),
            items=items,
            page=page,
            per_page=per_page,
            total_is_lower_bound=total >= self.count_limit,
        )

    def index_project(self, project_id: int) -> None:
        reindex_projects(self.db, [project_id])

    def remove_project(self, normalized_name: str) -> None:
        self.db.execute(
            sa.text("DELETE FROM project_search WHERE normalized_name = :name"),
            {"name": canonicalize_name(normalized_name)},
        )


_PLANNER_SETTINGS = sa.text(
    "SELECT current_setting('enable_seqscan') AS seqscan, current_setting('jit') AS jit,"
    " set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
)
_PLANNER_RESTORE = sa.text(
    "SELECT set_config('enable_seqscan', :seqscan, true), set_config('jit', :jit, true)"
)


@dataclasses.dataclass
class _Run:
    """One search's statements, with its parameters."""

    db: orm.Session
    params: dict
    filtered: bool
    direction: str
    walk_heads: bool = True
    walk_documents: bool = True

    def _statement(self, name: str) -> sa.TextClause:
        return _statement(name, self.filtered, self.direction, self.walk_heads, self.walk_documents)

    def _rows(self, name: str, **overrides):
        return self.db.execute(self._statement(name), {**self.params, **overrides}).all()

    def _scalar(self, name: str):
        return self.db.scalar(self._statement(name), self.params)

    def choose_heads_plan(self) -> None:
        """Walk the date index for heads if that reads fewer rows than the GIN way would.

        Walking reads about strong_candidates × rows / matches rows, the GIN way about
        matches rows: the walk wins when matches² > strong_candidates × rows.
        """
        plan = self._scalar("head_estimate")
        matches, rows = (part["Plan Rows"] for part in plan[0]["Plan"]["Plans"])
        self.walk_heads = matches * matches > self.params["strong_candidates"] * rows

    def browse(self):
        return _hits(self._rows("browse_page")), self._capped_count("browse")

    def count_documents(self) -> int:
        """The documents' matches (capped), and whether to walk the dates for them: only
        when there are at least COUNT_LIMIT (a walk finds a page of common words at once)."""
        matches = self._capped_count("document")
        self.walk_documents = matches >= self.params["count_limit"]
        return matches

    def by_relevance(self):
        matches = self.count_documents()
        rows = self._rows("strong_page")
        if rows:
            strong_total, outside = rows[0].strong_total, rows[0].outside_document
        elif not self.params["offset"]:
            # None at all: no similar name either, so none outside the documents' count.
            # (Counting them again would repeat the trigram scan of every name: a typo's
            # search at 700,000 projects took three of them, 45 ms each.)
            strong_total, outside = 0, 0
        else:  # past the strong matches: the page needs their number
            strong_total, outside = self._scalar("strong_count"), None
        items = _hits(rows)
        limit, offset = self.params["limit"], self.params["offset"]
        if len(items) < limit:
            # The page continues (or lies entirely) past the strong matches.
            items += _hits(
                self._rows(
                    "other_page",
                    limit=limit - len(items),
                    offset=max(0, offset - strong_total),
                )
            )
        return items, self.match_count(matches, outside)

    def by_date(self):
        matches = self.count_documents()
        window = self.params["offset"] + self.params["limit"]
        return _hits(self._rows("date_page", window=window)), self.match_count(matches)

    def match_count(self, matches: int, outside_document: int | None = None) -> int:
        """Matches of the words in documents, plus similar names the words miss."""
        if matches >= self.params["count_limit"]:
            return matches
        if outside_document is None:
            outside_document = self._scalar("outside_document_count")
        return matches + outside_document

    def _capped_count(self, kind: str) -> int:
        """``{kind}_count``, or just the limit when the estimate is far beyond it."""
        limit = self.params["count_limit"]
        plan = self._scalar(f"{kind}_estimate")
        if plan[0]["Plan"]["Plan Rows"] >= ESTIMATE_FACTOR * limit:
            return limit  # "10,000+": no need to count them all
        return self._scalar(f"{kind}_count")


def search_service_factory(context, request) -> PostgresSearchService:
    return PostgresSearchService(request.db)
