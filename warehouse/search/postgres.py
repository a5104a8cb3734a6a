"""Search with PostgreSQL alone: full-text search over ``project_search``, trigrams for typos.

The index is kept current in the same transaction as the change that affects it. A session
hook notes which projects a transaction touched (rows of projects and releases flushed, and
journal entries written — every change to the index writes one) and, just before the commit,
rewrites those projects' rows with one ``INSERT … SELECT … ON CONFLICT`` statement. So a
rolled-back upload leaves the index as it was, and a committed one is searchable at once.

The rewrite runs under the journal's advisory lock, which the journal's own commit hook has
already taken when there are entries (it is registered first, see the import below): two
uploads to the same project therefore rewrite its row one after the other, each seeing the
other's committed release.
"""

from __future__ import annotations

import dataclasses
import functools

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import event, orm
from zope.interface import implementer

# Imported for its side effect too: the journal's before_commit hook must be registered
# before ours, so that its entries are flushed (and its lock taken) when ours runs.
from warehouse.packaging.journal import JOURNAL_LOCK_KEY
from warehouse.packaging.models import JournalEntry, Project, Release
from warehouse.search.interfaces import ORDERS, ISearchService, SearchHit, SearchResults

# How much of a description is indexed: enough to find a project by what its README says
# first, small enough that ranking thousands of matches stays fast.
DESCRIPTION_LIMIT = 2000
MAX_QUERY_LENGTH = 200
MAX_PER_PAGE = 100
# Deep pages cost an ever larger OFFSET and nobody reads them.
MAX_PAGE = 500
TEXT_SEARCH_CONFIG = "english"
# Prefix of the document terms that stand for classifiers (no parsed word contains a colon
# followed by a space, so they never meet a user's words).
CLASSIFIER_TERM = "classifier:"

# The row a project's entry is rebuilt from. ``{where}`` filters projects (aliased ``p``).
# The shown release: non-yanked before yanked, final before pre-release, then the newest.
# Classifier prefixes are computed from the classifiers already fetched, not by a second
# join: a full rebuild runs this once per project. The document also carries each prefix as
# a term of its own ("classifier:Framework :: Django"), so that a query and its classifier
# filters are answered by the one GIN index together.
_ENTRY_SELECT = f"""
SELECT
    p.id,
    p.name,
    p.normalized_name,
    r.version,
    r.summary,
    r.keywords,
    left(r.description, {DESCRIPTION_LIMIT}),
    coalesce(c.classifiers, '{{}}'),
    prefixes.list,
    r.created,
    head.vector,
    head.vector
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        left(coalesce(r.description, ''), {DESCRIPTION_LIMIT})), 'D')
    || array_to_tsvector(ARRAY(SELECT '{CLASSIFIER_TERM}' || prefix FROM unnest(prefixes.list) prefix))
FROM projects p
CROSS JOIN LATERAL (
    SELECT id, version, summary, keywords, description, created FROM releases
    WHERE releases.project_id = p.id
    ORDER BY yanked, is_prerelease, sort_order DESC
    LIMIT 1
) r
CROSS JOIN LATERAL (
    SELECT setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        p.name || ' ' || translate(p.name, '-_.', '   ')), 'A')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.summary, '')), 'B')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.keywords, '')), 'C') AS vector
) head
CROSS JOIN LATERAL (
    SELECT array_agg(t.classifier ORDER BY t.classifier) AS classifiers
    FROM release_classifiers rc JOIN trove_classifiers t ON t.id = rc.trove_id
    WHERE rc.release_id = r.id
) c
CROSS JOIN LATERAL (
    SELECT coalesce(array_agg(DISTINCT array_to_string(parts[1:depth], ' :: ')), '{{}}') AS list
    FROM unnest(c.classifiers) AS classifier
    CROSS JOIN LATERAL string_to_array(classifier, ' :: ') AS parts
    CROSS JOIN LATERAL generate_series(1, cardinality(parts)) AS depth
) prefixes
WHERE {{where}}
"""

_COLUMNS = (
    "project_id, name, normalized_name, version, summary, keywords, description, "
    "classifiers, classifier_prefixes, created, head, document"
)
_UPDATES = ", ".join(
    f"{column} = EXCLUDED.{column}" for column in _COLUMNS.split(", ") if column != "project_id"
)


def _upsert_sql(where: str) -> sa.TextClause:
    return sa.text(
        f"INSERT INTO project_search ({_COLUMNS})"
        f"{_ENTRY_SELECT.replace('{where}', where)}"
        f"ON CONFLICT (project_id) DO UPDATE SET {_UPDATES}"
    )


_UPSERT_SOME = _upsert_sql("p.id = ANY(:ids)")
_UPSERT_ALL = _upsert_sql("true")
# Projects whose last release was deleted leave search (deleted projects go by cascade).
_DELETE_RELEASELESS = """
DELETE FROM project_search s
WHERE {where} AND NOT EXISTS (SELECT 1 FROM releases r WHERE r.project_id = s.project_id)
"""
_DELETE_SOME = sa.text(_DELETE_RELEASELESS.format(where="s.project_id = ANY(:ids)"))
_DELETE_ALL = sa.text(_DELETE_RELEASELESS.format(where="true"))
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")


def reindex_projects(session: orm.Session, project_ids) -> None:
    """Rewrite the entries of these projects (by id) from their current rows."""
    ids = sorted({int(i) for i in project_ids})
    if not ids:
        return
    session.flush()
    # Serialize with other writers, so that this statement's snapshot includes every
    # change committed before ours (see the module docstring).
    session.execute(_LOCK, {"key": JOURNAL_LOCK_KEY})
    session.execute(_DELETE_SOME, {"ids": ids})
    session.execute(_UPSERT_SOME, {"ids": ids})


def reindex_project_in_session(session: orm.Session, project: Project | int) -> None:
    """Bring one project's entry up to date now, inside the session's transaction.

    Not needed after changes made through the ORM or with a journal entry (the commit hook
    sees those); for code that changes search-relevant columns with bare SQL.
    """
    reindex_projects(session, [project if isinstance(project, int) else project.id])


def rebuild_all(session: orm.Session) -> None:
    """Rewrite every entry (``warehouse search reindex``); the caller commits."""
    session.flush()
    session.execute(_LOCK, {"key": JOURNAL_LOCK_KEY})
    session.execute(_DELETE_ALL)
    session.execute(_UPSERT_ALL)


# The commit hook ------------------------------------------------------------------------

_CHANGED_IDS = "warehouse.search.changed_project_ids"
_CHANGED_NAMES = "warehouse.search.changed_project_names"


def mark_project_changed(session: orm.Session, project: Project | int) -> None:
    """Have the project reindexed when the session commits (for bare-SQL changes)."""
    project_id = project if isinstance(project, int) else project.id
    session.info.setdefault(_CHANGED_IDS, set()).add(project_id)


@event.listens_for(orm.Session, "after_flush")
def _note_changed_projects(session: orm.Session, flush_context) -> None:
    ids: set[int] = session.info.setdefault(_CHANGED_IDS, set())
    names: set[str] = session.info.setdefault(_CHANGED_NAMES, set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Project):
            if obj.id is not None:
                ids.add(obj.id)
        elif isinstance(obj, Release):
            if obj.project_id is not None:
                ids.add(obj.project_id)
        elif isinstance(obj, JournalEntry):
            names.add(canonicalize_name(obj.name))


@event.listens_for(orm.Session, "before_commit")
def _reindex_changed_projects(session: orm.Session) -> None:
    # before_commit runs before the commit's own flush: flush now to see every change.
    if session.new or session.dirty or session.deleted:
        session.flush()
    if not (session.info.get(_CHANGED_IDS) or session.info.get(_CHANGED_NAMES)):
        return
    ids = session.info.pop(_CHANGED_IDS, set())
    names = session.info.pop(_CHANGED_NAMES, set())
    if names:
        ids |= set(session.scalars(sa.select(Project.id).where(Project.normalized_name.in_(names))))
    reindex_projects(session, ids)
    # Our own statements flushed nothing new; forget what they may have noted.
    session.info.pop(_CHANGED_IDS, None)
    session.info.pop(_CHANGED_NAMES, None)


@event.listens_for(orm.Session, "after_soft_rollback")
def _forget_changed_projects(session: orm.Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_CHANGED_IDS, None)
        session.info.pop(_CHANGED_NAMES, None)


# Searching ---------------------------------------------------------------------------------

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
# * totals are exact up to COUNT_LIMIT and reported as "at least" beyond it.
STRONG_CANDIDATES = 1000
SIMILAR_CANDIDATES = 100
TYPO_THRESHOLD = 20
COUNT_LIMIT = 10_000


def normalize_query(query: str | None) -> str:
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


_TSQUERY = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :text)"
# For the full document, "quoted phrases" count as their words: checking word positions would
# mean reading every candidate's document, which the GIN index otherwise spares us. Phrases
# are still phrases in names, summaries and keywords, which rank first.
_DOCUMENT_TSQUERY = f"websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', translate(:text, '\"', ' '))"
_DISPLAY = "s.name, s.normalized_name, s.version, s.summary, s.created"

# The templates below take:
#   {f}          classifier filters on ``s`` (the in-row prefix array), or nothing;
#   {document}   the condition that ``s.document`` matches the words (and the classifiers,
#                as terms, so that the GIN index answers both and no document is read);
#   {direction}  ASC or DESC.

# Names most like the query (typos), and the exact name: matches the words may miss. The
# trigram scan runs only if the words are rare in heads (PostgreSQL evaluates the
# uncorrelated count once, before the scan, and skips the scan when it is false). Its ORDER
# BY lets a common word be counted by walking a few rows of the date index instead of
# reading the word's whole GIN posting list.
_SIMILAR_IDS = f"""
    (SELECT s.project_id FROM project_search s
     WHERE s.name % :text {{f}}
       AND (SELECT count(*) FROM (SELECT 1 FROM project_search h WHERE h.head @@ {_TSQUERY}
            ORDER BY h.created LIMIT :typo_threshold) heads) < :typo_threshold
     ORDER BY similarity(s.name, :text) DESC LIMIT :similar_candidates)
    UNION
    (SELECT s.project_id FROM project_search s WHERE s.normalized_name = :exact {{f}})
"""

# The strong candidates of a query, as project ids.
_STRONG_IDS = f"""
    (SELECT s.project_id FROM project_search s
     WHERE s.head @@ {_TSQUERY} {{f}} ORDER BY s.created DESC LIMIT :strong_candidates)
    UNION
    {_SIMILAR_IDS}
"""

TEMPLATES = {
    # One page of strong matches, best first, with how many strong matches there are.
    "strong_page": f"""
        SELECT {_DISPLAY}, count(*) OVER () AS strong_total
        FROM project_search s
        WHERE s.project_id IN ({_STRONG_IDS})
        ORDER BY s.normalized_name = :exact DESC,
                 ts_rank(s.head, {_TSQUERY}) + similarity(s.name, :text) DESC,
                 s.created DESC, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    "strong_count": f"SELECT count(*) FROM ({_STRONG_IDS}) strong",
    # Matches that are not strong, newest first.
    "other_page": f"""
        SELECT {_DISPLAY} FROM project_search s
        WHERE {{document}} AND s.project_id NOT IN ({_STRONG_IDS})
        ORDER BY s.created DESC, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    # Every match by date, the exact name first. Each part is cut at the same window, so the
    # window of their union is right.
    "date_page": f"""
        SELECT {_DISPLAY} FROM project_search s
        WHERE s.project_id IN (
            (SELECT s.project_id FROM project_search s
             WHERE {{document}} ORDER BY s.created {{direction}} LIMIT :window)
            UNION
            {_SIMILAR_IDS}
        )
        ORDER BY s.normalized_name = :exact DESC, s.created {{direction}}, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    "document_count": """
        SELECT count(*) FROM (SELECT 1 FROM project_search s WHERE {document}
                              LIMIT :count_limit) matches
    """,
    # Similar names that the words do not match: the only matches outside the GIN count.
    "outside_document_count": f"""
        SELECT count(*) FROM project_search s
        WHERE s.project_id IN ({_SIMILAR_IDS})
          AND NOT s.head @@ {_TSQUERY} AND NOT {{document}}
    """,
    # Without words: everything, or what the classifiers select.
    "browse_page": """
        SELECT s.name, s.normalized_name, s.version, s.summary, s.created
        FROM project_search s WHERE true {f}
        ORDER BY s.created {direction}, s.normalized_name
        LIMIT :limit OFFSET :offset
    """,
    "browse_count": """
        SELECT count(*) FROM (SELECT 1 FROM project_search s WHERE true {f}
                              LIMIT :count_limit) matches
    """,
}


@functools.cache
def _statement(name: str, filtered: bool, direction: str = "DESC") -> sa.TextClause:
    """The statement ``name``, built once per variant (building and parsing is not free)."""
    document = f"s.document @@ {_DOCUMENT_TSQUERY}"
    if filtered:
        document = f"s.document @@ ({_DOCUMENT_TSQUERY} && CAST(:classifier_terms AS tsquery))"
    return sa.text(
        TEMPLATES[name].format(
            f="AND s.classifier_prefixes @> CAST(:classifiers AS text[])" if filtered else "",
            document=document,
            direction=direction,
        )
    )


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

        with self.db.begin_nested() as savepoint:
            # A sequential scan would read (and decompress) every document: use the indexes.
            # JIT compilation costs more than these small plans ever run.
            self.db.execute(_PLANNER_SETTINGS)
            run = _Run(self.db, params, bool(classifiers), direction)
            if not text:
                items, total = run.browse()
            else:
                params.update(text=text, exact=canonicalize_name(text))
                items, total = run.by_relevance() if order == "relevance" else run.by_date()
            savepoint.rollback()  # and with it the SET LOCAL
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


_PLANNER_SETTINGS = sa.text("SET LOCAL enable_seqscan = off; SET LOCAL jit = off")


@dataclasses.dataclass
class _Run:
    """One search's statements, with its parameters."""

    db: orm.Session
    params: dict
    filtered: bool
    direction: str

    def _rows(self, name: str, **overrides):
        statement = _statement(name, self.filtered, self.direction)
        return self.db.execute(statement, {**self.params, **overrides}).all()

    def _scalar(self, name: str) -> int:
        return self.db.scalar(_statement(name, self.filtered, self.direction), self.params)

    def browse(self):
        return _hits(self._rows("browse_page")), self._scalar("browse_count")

    def by_relevance(self):
        rows = self._rows("strong_page")
        # Past the strong matches (or none at all), the page needs their number.
        strong_total = rows[0].strong_total if rows else self._scalar("strong_count")
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
        return items, self.match_count()

    def by_date(self):
        window = self.params["offset"] + self.params["limit"]
        return _hits(self._rows("date_page", window=window)), self.match_count()

    def match_count(self) -> int:
        return self._scalar("document_count") + self._scalar("outside_document_count")


def search_service_factory(context, request) -> PostgresSearchService:
    return PostgresSearchService(request.db)
