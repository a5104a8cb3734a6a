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

# The row a project's entry is rebuilt from. ``{where}`` filters projects (aliased ``p``).
# The shown release: non-yanked before yanked, final before pre-release, then the newest.
# Classifier prefixes are computed from the classifiers already fetched, not by a second
# join: a full rebuild runs this once per project.
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
    coalesce((
        SELECT array_agg(DISTINCT array_to_string(parts[1:depth], ' :: '))
        FROM unnest(c.classifiers) AS classifier
        CROSS JOIN LATERAL string_to_array(classifier, ' :: ') AS parts
        CROSS JOIN LATERAL generate_series(1, cardinality(parts)) AS depth
    ), '{{}}'),
    r.created,
    setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        p.name || ' ' || translate(p.name, '-_.', '   ')), 'A')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.summary, '')), 'B')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}', coalesce(r.keywords, '')), 'C')
    || setweight(to_tsvector('{TEXT_SEARCH_CONFIG}',
        left(coalesce(r.description, ''), {DESCRIPTION_LIMIT})), 'D')
FROM projects p
CROSS JOIN LATERAL (
    SELECT id, version, summary, keywords, description, created FROM releases
    WHERE releases.project_id = p.id
    ORDER BY yanked, is_prerelease, sort_order DESC
    LIMIT 1
) r
CROSS JOIN LATERAL (
    SELECT array_agg(t.classifier ORDER BY t.classifier) AS classifiers
    FROM release_classifiers rc JOIN trove_classifiers t ON t.id = rc.trove_id
    WHERE rc.release_id = r.id
) c
WHERE {{where}}
"""

_COLUMNS = (
    "project_id, name, normalized_name, version, summary, keywords, description, "
    "classifiers, classifier_prefixes, created, document"
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


def normalize_query(query: str | None) -> str:
    return " ".join((query or "").split())[:MAX_QUERY_LENGTH]


@implementer(ISearchService)
class PostgresSearchService:
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

        params: dict[str, object] = {"limit": per_page, "offset": (page - 1) * per_page}
        where = ["true"]
        sort: list[str] = []
        if classifiers:
            where.append("classifier_prefixes @> CAST(:classifiers AS text[])")
            params["classifiers"] = classifiers
        if text:
            # Found by words (weighted A-D), by a name like the query (typos), or by name.
            where.append(
                f"(document @@ websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :text)"
                " OR name % :text OR normalized_name = :exact)"
            )
            sort.append("normalized_name = :exact DESC")
            params.update(text=text, exact=canonicalize_name(text))
        if order == "relevance" and text:
            sort.append(
                f"ts_rank(document, websearch_to_tsquery('{TEXT_SEARCH_CONFIG}', :text))"
                " + similarity(name, :text) DESC"
            )
            sort.append("created DESC")
        elif order == "created":
            sort.append("created ASC")
        else:  # "-created", and "relevance" without words to be relevant to
            sort.append("created DESC")
        sort.append("normalized_name")

        condition = " AND ".join(where)
        rows = self.db.execute(
            sa.text(
                "SELECT name, normalized_name, version, summary, created,"
                " count(*) OVER () AS total"
                f" FROM project_search WHERE {condition}"
                f" ORDER BY {', '.join(sort)}"
                " LIMIT :limit OFFSET :offset"
            ),
            params,
        ).all()
        if rows:
            total = rows[0].total
        else:  # past the last page, or nothing at all: the window function saw no rows
            total = self.db.scalar(
                sa.text(f"SELECT count(*) FROM project_search WHERE {condition}"), params
            )
        items = [
            SearchHit(r.name, r.normalized_name, r.version, r.summary, r.created) for r in rows
        ]
        return SearchResults(total=total, items=items, page=page, per_page=per_page)

    def index_project(self, project_id: int) -> None:
        reindex_projects(self.db, [project_id])

    def remove_project(self, normalized_name: str) -> None:
        self.db.execute(
            sa.text("DELETE FROM project_search WHERE normalized_name = :name"),
            {"name": canonicalize_name(normalized_name)},
        )


def search_service_factory(context, request) -> PostgresSearchService:
    return PostgresSearchService(request.db)
