"""Datasette's own table search over the paragraphs, answered by quicker plans for the same SQL.

A table search (`/archive/paragraphs.json?_search=russia`, its CSV, its pages) runs
two queries that Datasette writes:

    select … from paragraphs where rowid in (select rowid from paragraphs_fts
        where paragraphs_fts match escape_fts(:search)) order by id limit 101
    select count(*) from paragraphs where rowid in (…the same…)

SQLite answers both by looking up every match in the paragraphs table, and the
first sorts them all for one page: at a million paragraphs, about 0.3 s each for
a word in half of them. For an archive served immutable, the same queries get
the same answers from plans that touch fewer rows:

- the count is the full-text index's own count: every row the index holds is a
  paragraph, as the index is built from the table (`content="paragraphs"`) and
  the file never changes; counted once for the page and the count, and kept;
- the page comes from whichever of three plans costs least for the share of
  paragraphs that match:
  Datasette's own (sort the matches: best for a few), walking the id index in
  order keeping the rows in the list of matches (many matches), or walking it
  asking the index whether each row matches (most paragraphs match; not for
  prefix queries, where each such question costs milliseconds).

Any other query — other filters, another sort, a mutable database — runs as
Datasette wrote it.
"""

from __future__ import annotations

import re
from collections import OrderedDict

from datasette import hookimpl

SEARCH = (r"rowid in \(select rowid from paragraphs_fts where paragraphs_fts match "
          r"(?P<match>escape_fts\(:search\)|:search)\)")
COUNT_SQL = re.compile(rf"select count\(\*\) from paragraphs where {SEARCH}\s*")
PAGE_SQL = re.compile(rf"select (?P<columns>.+?) from paragraphs where {SEARCH} "
                      r"(?:and (?P<after>\(id > :p\d+\)) )?order by id limit (?P<limit>\d+)\s*", re.S)
# The index must be the table's own: an external-content index built from the paragraphs.
EXTERNAL_CONTENT = re.compile(r"""content\s*=\s*["'\[]?paragraphs["'\]]?""", re.I)

# Rough costs in microseconds, measured at a million paragraphs (bench/README.md, "table search
# plans"): per match looked up and sorted; per match listed, and per id index entry walked past;
# per row asked of the index, and per word of the query.
SORT_PER_MATCH = 0.7
LIST_PER_MATCH, WALK_PER_ENTRY = 0.2, 0.1
ASK_PER_ROW, ASK_PER_WORD = 8.0, 8.0
KEPT_COUNTS = 256


def choose_plan(matches: int, paragraphs: int, limit: int, query: str) -> str:
    """The cheapest plan for a page of `limit` rows in id order out of `matches` of `paragraphs`:
    "sort", "list" or "ask"."""
    if matches == 0:
        return "sort"
    walked = min(paragraphs, limit * paragraphs / matches)  # id index entries passed before the page is full
    costs = {"sort": SORT_PER_MATCH * matches, "list": LIST_PER_MATCH * matches + WALK_PER_ENTRY * walked}
    if "*" not in query:
        costs["ask"] = (ASK_PER_ROW + ASK_PER_WORD * max(1, len(re.findall(r"\w+", query)))) * walked
    return min(costs, key=costs.get)


def page_sql(plan: str, columns: str, match: str, after: str | None, limit: int, id_index: str) -> str:
    """A page of matches in id order, as Datasette's own query finds it, by the given plan."""
    listed = f"rowid in (select rowid from paragraphs_fts where paragraphs_fts match {match})"
    asked = (f"exists (select 1 from paragraphs_fts where paragraphs_fts match {match} "
             f"and paragraphs_fts.rowid = paragraphs.rowid)")
    where = " and ".join([asked if plan == "ask" else listed, *([after] if after else [])])
    walk = f" indexed by {id_index}" if plan in ("list", "ask") else ""
    return f"select {columns} from paragraphs{walk} where {where} order by id limit {limit}"


class Planner:
    """Rewrites one immutable archive's table-search queries to their quicker plans."""

    def __init__(self, db):
        self.db = db
        self.execute = db.execute  # Datasette's own, which runs what it is given
        self.shape: tuple[int, str] | None = None  # (paragraphs, id index), or None before it is read
        self.usable: bool | None = None
        self.counts: OrderedDict[tuple, int] = OrderedDict()

    async def planned_execute(self, sql, params=None, *args, **kwargs):
        """Database.execute, running a table search's count or page by its quicker plan."""
        if isinstance(sql, str) and isinstance(params, dict) and "paragraphs_fts" in sql:
            sql = await self.rewrite(sql, params) or sql
        return await self.execute(sql, params, *args, **kwargs)

    async def rewrite(self, sql: str, params: dict) -> str | None:
        """The quicker SQL for a table search's count or page, or None for any other query."""
        count = COUNT_SQL.fullmatch(sql)
        page = None if count else PAGE_SQL.fullmatch(sql)
        if not (count or page) or not await self.ready():
            return None
        match = (count or page)["match"]
        matches = await self.matches(match, params.get("search", ""))
        if count:
            # Counted by the index already (for the page, which Datasette asks for first).
            return f"select {int(matches)}"
        paragraphs, id_index = self.shape
        plan = choose_plan(matches, paragraphs, int(page["limit"]), params.get("search", ""))
        return page_sql(plan, page["columns"], match, page["after"], int(page["limit"]), id_index)

    async def ready(self) -> bool:
        """Whether this archive's index is built from its paragraphs (read once)."""
        if self.usable is None:
            schema = (await self.execute("select sql from sqlite_master where name = 'paragraphs_fts'")).first()
            indexes = await self.execute("select name from pragma_index_list('paragraphs') where origin = 'pk'")
            id_index = next((row[0] for row in indexes), None)
            self.usable = bool(schema and schema[0] and EXTERNAL_CONTENT.search(schema[0]) and id_index)
            if self.usable:
                paragraphs = (await self.execute("select max(rowid) from paragraphs")).first()[0] or 0
                self.shape = (paragraphs, id_index)
        return self.usable

    async def matches(self, match: str, search: str) -> int:
        """How many paragraphs match, counted by the index once per search."""
        key = (match, search)
        if key not in self.counts:
            found = await self.execute(f"select count(*) from paragraphs_fts where paragraphs_fts match {match}",
                                       {"search": search})
            self.counts[key] = found.first()[0]
            if len(self.counts) > KEPT_COUNTS:
                self.counts.popitem(last=False)
        self.counts.move_to_end(key)
        return self.counts[key]


@hookimpl
def startup(datasette):
    for db in datasette.databases.values():
        # Only an immutable file: the count's shortcut holds while the index and the table never change.
        if db.path and not db.is_mutable and not hasattr(db, "table_search_planner"):
            db.table_search_planner = Planner(db)
            db.execute = db.table_search_planner.planned_execute
