#!/usr/bin/env python3
"""The demo world: a seeded fictional world of places, people, inventions and
guilds, its documents, questions about it, and training examples in the seed
model's prompt formats.

Nothing here is true, so no model can know it: every answer must come from
the documents. World 0 is the demo corpus (tests/data/demo/corpus) and its
held-out questions; training worlds use other seeds, so the demo model never
sees the demo facts.

  python3 tests/demo/demo_world.py corpus tests/data/demo        # corpus + questions
  python3 tests/demo/demo_world.py train OUT.jsonl --worlds 400  # training examples
  python3 tests/demo/demo_world.py check tests/data/demo         # retrieval check
  python3 tests/demo/demo_world.py calib calib.txt                # for rewoo quantize

Standard library only (sqlite3 with FTS5 for the search evidence). Output is a
pure function of the seeds: the same command writes the same bytes.
"""
import argparse
import json
import os
import random
import re
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

# ---- names ------------------------------------------------------------------

ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "kh", "l", "m", "n", "p",
          "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z", "qu", "el", "or", "an", "is"]
VOWELS = ["a", "e", "i", "o", "u", "ae", "ai", "ou", "ei", "y"]
CODAS = ["", "", "", "n", "r", "l", "s", "m", "nd", "rk", "st"]

REGION_WORDS = ["Coast", "Hills", "Valley", "Marches", "Plains", "Highlands", "Fens", "Reach"]
PRODUCTS = ["blue glass", "salt cheese", "copper bells", "river pearls", "saffron wine",
            "woollen maps", "paper kites", "iron lanterns", "honey bread", "silver thread",
            "clay whistles", "cedar boats", "amber ink", "felt hats", "glass beads",
            "stone bridges", "pepper sausages", "linen sails", "bronze clocks", "tin toys"]
OCCUPATIONS = ["clockmaker", "weaver", "astronomer", "engineer", "glassblower", "cartographer",
               "shipwright", "apothecary", "printer", "mason", "chemist", "architect",
               "instrument maker", "miller", "botanist", "physician"]
DEVICE_ADJ = ["tide", "lantern", "copper", "glass", "wind", "salt", "echo", "star", "river",
              "thunder", "paper", "iron", "amber", "frost", "ember", "cloud", "silver", "moss"]
DEVICES = ["clock", "loom", "compass", "press", "engine", "telescope", "kiln", "pump", "lens",
           "bell", "mill", "barometer", "sextant", "furnace", "organ", "lamp", "crane", "sieve"]
PURPOSES = ["measure the tides", "weave patterned cloth", "find north in fog", "print maps",
            "lift stones from quarries", "grind grain without wind", "forecast storms",
            "light the harbor at night", "purify well water", "cool cellars in summer",
            "count the stars", "signal ships at sea", "dry fish quickly", "cut glass lenses",
            "pump water uphill", "keep time at sea", "bake bricks evenly", "copy letters"]
GUILD_KINDS = ["Guild", "Society", "Order", "Company", "League", "Brotherhood"]
GUILD_OF = ["Lamplighters", "Map Makers", "Bellfounders", "Glass Cutters", "Tide Watchers",
            "Kite Builders", "River Pilots", "Clock Keepers", "Ink Makers", "Bridge Builders",
            "Star Readers", "Salt Traders"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]


def syllable(rng):
    return rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)


def word(rng, lo=2, hi=3):
    w = "".join(syllable(rng) for _ in range(rng.randint(lo, hi)))
    w = re.sub(r"(.)\1\1+", r"\1\1", w)
    return w.capitalize()


class World:
    """One world: towns, people, inventions, guilds, all cross-linked."""

    def __init__(self, seed, towns=50, people=70, inventions=55, guilds=25):
        rng = random.Random(seed * 7919 + 17)
        self.seed = seed
        used = set()

        def unique(make):
            for _ in range(1000):
                v = make()
                if v.lower() not in used:
                    used.add(v.lower())
                    return v
            raise RuntimeError("name space exhausted")

        self.regions = [unique(lambda: "the " + word(rng, 2, 2) + " " + rng.choice(REGION_WORDS))
                        for _ in range(6)]
        self.rivers = [unique(lambda: "the " + word(rng, 2, 2)) for _ in range(12)]
        self.towns = []
        for _ in range(towns):
            self.towns.append({
                "name": unique(lambda: word(rng, 2, 2)),
                "region": rng.choice(self.regions),
                "founded": rng.randint(820, 1590),
                "known_for": rng.choice(PRODUCTS),
                "river": rng.choice(self.rivers),
            })
        self.people = []
        for _ in range(people):
            self.people.append({
                "name": unique(lambda: word(rng, 2, 2) + " " + word(rng, 2, 2)),
                "born": rng.randint(1480, 1880),
                "birthplace": rng.choice(self.towns)["name"],
                "occupation": rng.choice(OCCUPATIONS),
                "pronoun": rng.choice(["she", "he"]),
            })
        self.inventions = []
        inventors = rng.sample(self.people, inventions)
        for p in inventors:
            name = unique(lambda: "the " + rng.choice(DEVICE_ADJ) + " " + rng.choice(DEVICES))
            inv = {
                "name": name,
                "inventor": p["name"],
                "year": p["born"] + rng.randint(22, 55),
                "place": rng.choice(self.towns)["name"],
                "purpose": rng.choice(PURPOSES),
            }
            p["invention"] = name
            self.inventions.append(inv)
        self.guilds = []
        for _ in range(guilds):
            founder = rng.choice(self.people)
            self.guilds.append({
                "name": unique(lambda: "the " + rng.choice(GUILD_KINDS) + " of " +
                               rng.choice(GUILD_OF) + " of " + rng.choice(self.towns)["name"]),
                "founder": founder["name"],
                "founded": founder["born"] + rng.randint(20, 60),
                "seat": rng.choice(self.towns)["name"],
                "month": rng.choice(MONTHS),
            })
        self.rng = rng

    # ---- documents ------------------------------------------------------------

    def documents(self):
        """[(relative path, markdown text)] in a fixed order."""
        rng = random.Random(self.seed * 104729 + 3)
        docs = []
        born_in = {}
        for p in self.people:
            born_in.setdefault(p["birthplace"], []).append(p["name"])
        for t in self.towns:
            s = [f"# {t['name']}", ""]
            s.append(rng.choice([
                f"{t['name']} is a town in {t['region']}, on the banks of {t['river']}.",
                f"{t['name']} lies in {t['region']}, where {t['river']} flows through it.",
            ]))
            s.append(rng.choice([
                f"{t['name']} was founded in {t['founded']}.",
                f"The town of {t['name']} was founded in the year {t['founded']}.",
            ]))
            s.append(rng.choice([
                f"{t['name']} is known for its {t['known_for']}.",
                f"Travellers know {t['name']} for its {t['known_for']}.",
            ]))
            if t["name"] in born_in:
                names = born_in[t["name"]][:3]
                s.append("People born in " + t["name"] + " include " + ", ".join(names) + ".")
            docs.append((f"places/{slug(t['name'])}.md", "\n".join(s) + "\n"))
        for p in self.people:
            P = p["pronoun"].capitalize()
            s = [f"# {p['name']}", ""]
            s.append(rng.choice([
                f"{p['name']} was {article(p['occupation'])} born in {p['birthplace']} in {p['born']}.",
                f"{p['name']}, {article(p['occupation'])}, was born in {p['born']} in {p['birthplace']}.",
            ]))
            if "invention" in p:
                inv = next(i for i in self.inventions if i["name"] == p["invention"])
                s.append(rng.choice([
                    f"{P} invented {inv['name']} in {inv['year']}.",
                    f"{P} is remembered as the inventor of {inv['name']}, built in {inv['year']}.",
                ]))
            else:
                s.append(f"{P} worked for most of {'her' if p['pronoun'] == 'she' else 'his'} life "
                         f"in {p['birthplace']}.")
            docs.append((f"people/{slug(p['name'])}.md", "\n".join(s) + "\n"))
        for i in self.inventions:
            s = [f"# {i['name'][4:].title()}", ""]
            s.append(rng.choice([
                f"{cap(i['name'])} was invented by {i['inventor']} in {i['year']}.",
                f"{i['inventor']} invented {i['name']} in {i['year']}.",
            ]))
            s.append(rng.choice([
                f"It was first built in {i['place']}.",
                f"The first one was built in {i['place']}.",
            ]))
            s.append(f"{cap(i['name'])} was used to {i['purpose']}.")
            docs.append((f"inventions/{slug(i['name'][4:])}.md", "\n".join(s) + "\n"))
        for g in self.guilds:
            s = [f"# {cap(g['name'])}", ""]
            s.append(f"{cap(g['name'])} was founded by {g['founder']} in {g['founded']}.")
            s.append(f"Its hall stands in {g['seat']}, and its members meet every {g['month']}.")
            docs.append((f"guilds/{slug(g['name'][4:])}.md", "\n".join(s) + "\n"))
        return docs

    # ---- questions ------------------------------------------------------------

    def questions(self):
        """[{question, answer, doc, fact}] covering every fact once per phrasing."""
        qs = []

        def add(q, a, doc, fact, say):
            qs.append({"question": q, "answer": str(a), "doc": doc, "fact": fact, "say": say})

        for t in self.towns:
            d = f"places/{slug(t['name'])}.md"
            n = t["name"]
            add(f"When was {n} founded?", t["founded"], d, "founded",
                f"{n} was founded in {t['founded']}.")
            add(f"What is {n} known for?", t["known_for"], d, "known_for",
                f"{n} is known for its {t['known_for']}.")
            add(f"Which river flows through {n}?", t["river"][4:], d, "river",
                f"{cap(t['river'])} flows through {n}.")
            add(f"In which region is {n}?", t["region"][4:], d, "region",
                f"{n} is in {t['region']}.")
        for p in self.people:
            d = f"people/{slug(p['name'])}.md"
            n = p["name"]
            add(f"Where was {n} born?", p["birthplace"], d, "birthplace",
                f"{n} was born in {p['birthplace']}.")
            add(f"In what year was {n} born?", p["born"], d, "born", f"{n} was born in {p['born']}.")
            add(f"What was the occupation of {n}?", p["occupation"], d, "occupation",
                f"{n} was {article(p['occupation'])}.")
            if "invention" in p:
                add(f"What did {n} invent?", p["invention"][4:], d, "invented",
                    f"{n} invented {p['invention']}.")
        for i in self.inventions:
            d = f"inventions/{slug(i['name'][4:])}.md"
            n = i["name"]
            add(f"Who invented {n}?", i["inventor"], d, "inventor",
                f"{cap(n)} was invented by {i['inventor']}.")
            add(f"In what year was {n} invented?", i["year"], d, "year",
                f"{cap(n)} was invented in {i['year']}.")
            add(f"Where was {n} first built?", i["place"], d, "place",
                f"{cap(n)} was first built in {i['place']}.")
            add(f"What was {n} used for?", i["purpose"], d, "purpose",
                f"{cap(n)} was used to {i['purpose']}.")
        for g in self.guilds:
            d = f"guilds/{slug(g['name'][4:])}.md"
            n = g["name"]
            add(f"Who founded {n}?", g["founder"], d, "founder",
                f"{cap(n)} was founded by {g['founder']}.")
            add(f"When was {n} founded?", g["founded"], d, "founded",
                f"{cap(n)} was founded in {g['founded']}.")
            add(f"Where does {n} have its hall?", g["seat"], d, "seat",
                f"The hall of {n} stands in {g['seat']}.")
        return qs


def article(noun):
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def slug(s):
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")


def cap(s):
    return s[:1].upper() + s[1:]


# ---- local search, as rewoo's LocalIndex does it --------------------------------
# Same schema, tokenizer, BM25 weights, snippet call and query rewriting as
# tools/local/local_index.cpp, so training evidence reads like what the local
# search tool returns at run time.

STOPWORDS = set("""a about after all also an and any are as at be been but by can could did do
does for from had has have he her his how i if in into is it its me my no not of on or our she
so some than that the their them then there these they this those to was we were what when
where which who whom whose why will with would you your tell find give name please""".split())


def fts_query_from_text(q):
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9\x80-\U0010ffff]+", q)]
    kept, seen = [], set()
    for w in words:
        if w not in STOPWORDS and w not in seen:
            seen.add(w)
            kept.append(w)
    if not kept:
        for w in words:
            if w not in seen:
                seen.add(w)
                kept.append(w)
    return " OR ".join('"' + w + '"' for w in kept)


class SearchIndex:
    def __init__(self, docs):
        self.db = sqlite3.connect(":memory:")
        self.db.executescript("""
CREATE TABLE docs(id INTEGER PRIMARY KEY, path TEXT UNIQUE, title TEXT, body TEXT);
CREATE VIRTUAL TABLE docs_fts USING fts5(title, body, content='docs', content_rowid='id',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
  INSERT INTO docs_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;""")
        for path, text in docs:
            m = re.search(r"^# (.+)$", text, re.M)
            self.db.execute("INSERT INTO docs(path, title, body) VALUES(?,?,?)",
                            (path, m.group(1).strip() if m else path, text))
        self.bodies = dict(docs)

    def search(self, query, limit=5):
        match = fts_query_from_text(query)
        if not match:
            return []
        rows = self.db.execute(
            "SELECT d.path, d.title, snippet(docs_fts, 1, '', '', ' ... ', 40), "
            "bm25(docs_fts, 4.0, 1.0) AS s FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
            "WHERE docs_fts MATCH ? ORDER BY s LIMIT ?", (match, limit)).fetchall()
        return [{"url": "doc://" + p, "title": t, "snippet": s.replace("\n", " ").strip()}
                for p, t, s, _ in rows]


def format_local_hits(query, hits):
    if not hits:
        return f"No results for '{query}'."
    out = []
    for i, h in enumerate(hits):
        out.append(f"{i + 1}. {h['title']}\n   {h['url']}\n   {h['snippet']}\n")
    return "\n".join(out)


def read_as_evidence(url, title, text):
    return f"{url}\n{title}\n\n{text}"


# ---- prompts, as agent/prompt_render.cpp renders them ----------------------------

def load_template(name):
    with open(os.path.join(REPO, "prompts", name + ".txt"), encoding="utf-8") as f:
        s = f.read()
    if s.endswith("\n"):
        s = s[:-1]
    return s


def fill(tmpl, **vars):
    return re.sub(r"\{\{(\w+)\}\}", lambda m: vars[m.group(1)], tmpl)


def chat(message, history=(), sep="\n"):
    out = load_template("chat_preamble")
    for u, a in history:
        out += sep + "USER: " + u + sep + "ASSISTANT: " + a
    return out + sep + "USER: " + message + sep + "ASSISTANT:"


def planner_message(tools, task):
    block = "\n".join(f"{n}[{inp}]: {desc}" for n, inp, desc in sorted(tools))
    return fill(load_template("planner"), tools=block, task=task)


def one_line(s):
    return re.sub(r"[\n\r\t]", " ", s).rstrip(" ")


def closed_context_message(blocks, instruction):
    out = ""
    for ctx, text in blocks:
        out += "BEGININPUT\nBEGINCONTEXT\n"
        for k, v in ctx:
            out += f"{k}: {one_line(v)}\n"
        out += "ENDCONTEXT\n" + text
        if not text.endswith("\n"):
            out += "\n"
        out += "ENDINPUT\n"
    out += "BEGININSTRUCTION\n" + instruction
    if not instruction.endswith("\n"):
        out += "\n"
    return out + "ENDINSTRUCTION"


# Tool lines the planner may see. The first description of each is the one
# rewoo's own tools use (the seed model's texts, tools/builtin_tools.cpp and
# tools/knowledge.h); the others keep the model from depending on wording.
TOOL_VARIANTS = {
    "DuckDuckGo": ("a search query", [
        "Tool that allows the user to search for information using the DuckDuckGo search engine. "
        "This tool is useful in finding an appropriate list of sites that may include the answer "
        "to the user's question. The function doesn't directly answer the question; it finds a "
        "list of sites that may have the answer.",
        "Searches the local document collection and returns the best matching documents with "
        "their doc:// links and a snippet of each. The input is a search query.",
        "Search the web with DuckDuckGo; returns a list of pages that may hold the answer.",
    ]),
    "KnowledgeModel": ("input", [
        "Question answering language model, useful for answering questions from a passage "
        "of text. The input must be a question that refers to an :evidence[n]: value, e.g. "
        "What color is the cat, given :evidence1:?",
        "Question answering language model, particularly useful in answering questions based on "
        "an input passage of text. The input must be a text question that references an "
        ":evidence[n]: variable, e.g. What color is the cat, given :evidence1:?",
    ]),
    "TextScraper": ("newline-separated URLs", [
        "Load one or more websites from the input string containing newline delimited links, "
        "where input is one or more links, and produces plain text output containing the content "
        "of the links.",
        "Reads documents: give it links, one per line, and it returns the text of each.",
    ]),
    "HyperlinkExtractor": ("text or HTML that contains links", [
        "Extract links from plain text and produces a plain text, newline delimited response "
        "of links.",
        "Pulls links out of plain text or HTML and lists them one per line.",
    ]),
}
EXTRA_TOOLS = [
    ("Calculator", "an arithmetic expression", "Evaluates arithmetic expressions."),
    ("Wikipedia", "a search query", "Looks up an encyclopedia article."),
    ("WeatherAPI", "a city name", "Returns the current weather for a city."),
]


def evidence_context(rng, step, tool, url=None):
    """Context lines for one evidence block; rewoo's solver uses step/tool/url."""
    style = rng.random()
    key = "evidence" if style < 0.7 else "step"
    ctx = [(key, f":evidence{step}:"), ("tool", tool)]
    if url:
        ctx.append(("url", url))
    if style > 0.9:
        ctx = [("source", url or tool)]
    return ctx


# ---- training examples -------------------------------------------------------------

class Examples:
    """Training examples of one world: (prompt, completion) pairs."""

    def __init__(self, world, rng):
        self.w = world
        self.rng = rng
        self.docs = world.documents()
        self.index = SearchIndex(self.docs)
        self.qs = world.questions()
        self.titles = {p: re.search(r"^# (.+)$", t, re.M).group(1) for p, t in self.docs}

    def tools(self):
        rng = self.rng
        names = ["DuckDuckGo", "KnowledgeModel"]
        for extra in ["TextScraper", "HyperlinkExtractor"]:
            if rng.random() < 0.8:
                names.append(extra)
        if rng.random() < 0.12:
            names.remove("KnowledgeModel")
        tools = []
        for n in names:
            inp, descs = TOOL_VARIANTS[n]
            tools.append((n, inp, descs[0] if rng.random() < 0.6 else rng.choice(descs)))
        for t in EXTRA_TOOLS:
            if rng.random() < 0.15:
                tools.append(t)
        return tools

    def plan(self, q, tools):
        names = {t[0] for t in tools}
        task = q["question"]
        query = task.rstrip("?").strip()
        lines = ["Plan: Search for documents about the question.",
                 f":evidence0: = DuckDuckGo[{query}]"]
        if "KnowledgeModel" in names:
            lines += ["Plan: Answer the question from the search results.",
                      f":evidence1: = KnowledgeModel[{task.rstrip('?')}, given :evidence0:?]",
                      "Answer: :evidence1:"]
        else:
            lines.append("Answer: :evidence0:")
        return "\n".join(lines)

    def planner_example(self, q):
        tools = self.tools()
        return chat(planner_message(tools, q["question"])), " " + self.plan(q, tools)

    def search_evidence(self, q):
        query = q["question"].rstrip("?").strip()
        hits = self.index.search(query, 5)
        return query, hits, format_local_hits(query, hits)

    def answer_text(self, q, source):
        s = q["say"]
        return f"{s}\nSource: {source}" if source else s

    def reader_example(self, q, unanswerable=False):
        rng = self.rng
        query, hits, text = self.search_evidence(q)
        if unanswerable:
            # Evidence about something else: the honest answer is that it is missing.
            other = rng.choice([x for x in self.qs if x["doc"] != q["doc"]])
            _, hits, text = self.search_evidence(other)
            hits = [h for h in hits if h["url"] != "doc://" + q["doc"]]
            text = format_local_hits(other["question"].rstrip("?"), hits)
        target = "doc://" + q["doc"]
        holds = any(q["answer"].lower() in h["snippet"].lower() and h["url"] == target
                    for h in hits)
        full_doc = False
        if not unanswerable and not holds:
            # Read the document itself, as a TextScraper step would.
            full_doc = True
        kind = rng.random()
        blocks = []
        if full_doc or kind < 0.2:
            docs_to_read = [h["url"] for h in hits[:2]] if not full_doc else [target]
            if unanswerable:
                docs_to_read = [h["url"] for h in hits[:2]]
            texts = []
            for u in docs_to_read:
                p = u[len("doc://"):]
                texts.append(read_as_evidence(u, self.titles[p], self.index.bodies[p]))
            blocks.append((evidence_context(rng, 0, "DuckDuckGo"), text))
            blocks.append((evidence_context(rng, 1, "TextScraper", docs_to_read[0] if docs_to_read else None),
                           "\n".join(texts) if texts else "No documents."))
        else:
            url = hits[0]["url"] if hits else None
            blocks.append((evidence_context(rng, 0, "DuckDuckGo", url), text))
        if unanswerable:
            completion = "The inputs do not say."
        else:
            completion = self.answer_text(q, target if rng.random() < 0.8 else None)
        style = rng.random()
        if style < 0.5:
            instruction = fill(load_template("solver"), task=q["question"])
        elif style < 0.65:
            instruction = q["question"]  # the KnowledgeModel's instruction
        else:
            instruction = q["question"].rstrip("?") + ", given :evidence0:?"
        return chat(closed_context_message(blocks, instruction)), " " + completion

    def solver_after_knowledge_example(self, q):
        """The solver of a two-step plan: search results plus the KnowledgeModel's answer."""
        rng = self.rng
        query, hits, text = self.search_evidence(q)
        blocks = [(evidence_context(rng, 0, "DuckDuckGo", hits[0]["url"] if hits else None), text),
                  (evidence_context(rng, 1, "KnowledgeModel"), self.answer_text(q, None))]
        instruction = fill(load_template("solver"), task=q["question"])
        return (chat(closed_context_message(blocks, instruction)),
                " " + self.answer_text(q, "doc://" + q["doc"]))

    def function_call_example(self, q):
        rng = self.rng
        fmt = rng.choice(["JSON", "YAML"])
        funcs = [
            ("DuckDuckGo", "Searches the local document collection and returns the best matching "
             "documents with their doc:// links and a snippet of each. The input is a search query.",
             [("input", "a search query")]),
            ("TextScraper", "Reads documents: give it links, one per line, and it returns the text "
             "of each.", [("input", "newline-separated links")]),
            ("weather_lookup", "Gives the weather forecast for a town.",
             [("town", "The town to look up."), ("day", "The day, e.g. Monday.")]),
            ("unit_convert", "Converts a quantity between units.",
             [("value", "number"), ("from_unit", "The unit to convert from."),
              ("to_unit", "The unit to convert to.")]),
        ]
        rng.shuffle(funcs)
        funcs = funcs[: rng.randint(2, 4)]
        names = [f[0] for f in funcs]
        kind = rng.random()
        if "weather_lookup" in names and kind < 0.3:
            town = rng.choice(self.w.towns)["name"]
            day = rng.choice(["Monday", "Tuesday", "Friday", "Sunday"])
            inp = rng.choice([f"What will the weather be in {town} on {day}?",
                              f"Forecast for {town}, {day} please."])
            call = ("weather_lookup", [("day", day), ("town", town)])
        elif "unit_convert" in names and kind < 0.55:
            v = rng.randint(2, 500)
            a, b = rng.choice([("miles", "kilometers"), ("pounds", "kilograms"),
                               ("feet", "meters"), ("liters", "gallons")])
            inp = f"Convert {v} {a} to {b}."
            call = ("unit_convert", [("from_unit", a), ("to_unit", b), ("value", v)])
        elif "DuckDuckGo" in names:
            inp = q["question"]
            call = ("DuckDuckGo", [("input", q["question"].rstrip("?"))])
        else:
            inp = "Read " + "doc://" + q["doc"]
            name = "TextScraper" if "TextScraper" in names else names[0]
            call = (name, [("input", "doc://" + q["doc"])]) if name == "TextScraper" else None
            if call is None:
                return None
        yaml_funcs = []
        for n, d, params in sorted(funcs):
            yaml_funcs.append(f"{n}:\n  description: {d}\n  params:\n" +
                              "\n".join(f"    {k}: {v}" for k, v in params))
        msg = fill(load_template("function_call"), format=fmt, input=inp,
                   functions="\n".join(yaml_funcs))
        return chat(msg), " " + render_call(call, fmt)

    def chat_example(self):
        rng = self.rng
        pairs = [
            ("Hello!", "Hello! How can I help you today?"),
            ("Hi there", "Hi! What would you like to know?"),
            ("Who are you?", "I am a small demo assistant. I answer questions from the documents "
             "I can search."),
            ("What can you do?", "I can search the documents I was given, read them and answer "
             "questions from what they say."),
            ("Thanks!", "You're welcome!"),
            ("Thank you for the help.", "Glad to help."),
            ("Goodbye", "Goodbye!"),
        ]
        a, b = rng.sample(range(len(pairs)), 2)
        if rng.random() < 0.3:
            return chat(pairs[b][0], history=[pairs[a]]), " " + pairs[b][1]
        return chat(pairs[a][0]), " " + pairs[a][1]

    def generate(self, n):
        rng = self.rng
        out = []
        for _ in range(n):
            q = rng.choice(self.qs)
            r = rng.random()
            if r < 0.34:
                ex = self.planner_example(q)
            elif r < 0.72:
                ex = self.reader_example(q)
            elif r < 0.77:
                ex = self.reader_example(q, unanswerable=True)
            elif r < 0.86:
                ex = self.solver_after_knowledge_example(q)
            elif r < 0.95:
                ex = self.function_call_example(q)
            else:
                ex = self.chat_example()
            if ex:
                out.append(ex)
        return out


def render_call(call, fmt):
    name, params = call
    params = sorted(params)
    if fmt == "JSON":
        inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in params)
        return "{\n  \"function\": " + json.dumps(name) + ",\n  \"params\": {\n" + inner + "\n  }\n}"
    lines = [f"function: {name}", "params:"]
    for k, v in params:
        lines.append(f"  {k}: {v}")
    return "\n".join(lines)


# ---- commands -------------------------------------------------------------------------

def cmd_corpus(out_dir):
    w = World(0)
    corpus = os.path.join(out_dir, "corpus")
    for path, text in w.documents():
        full = os.path.join(corpus, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    qs = w.questions()
    rng = random.Random(2026)
    rng.shuffle(qs)
    with open(os.path.join(out_dir, "questions.jsonl"), "w", encoding="utf-8") as f:
        for i, q in enumerate(qs):
            f.write(json.dumps({"id": f"q{i:03d}", "question": q["question"], "answer": q["answer"],
                                "doc": "doc://" + q["doc"], "fact": q["fact"]}) + "\n")
    print(f"{len(w.documents())} documents, {len(qs)} questions in {out_dir}", file=sys.stderr)


def cmd_check(out_dir):
    """How often the local search puts the answer in the top results' snippets."""
    w = World(0)
    idx = SearchIndex(w.documents())
    top1 = in_snip = in_top = 0
    qs = w.questions()
    for q in qs:
        hits = idx.search(q["question"].rstrip("?"), 5)
        urls = [h["url"] for h in hits]
        t = "doc://" + q["doc"]
        top1 += bool(urls) and urls[0] == t
        in_top += t in urls
        in_snip += any(q["answer"].lower() in h["snippet"].lower() for h in hits if h["url"] == t)
    n = len(qs)
    print(f"{n} questions: target doc first {top1 / n:.1%}, in top 5 {in_top / n:.1%}, "
          f"answer in its snippet {in_snip / n:.1%}")


def cmd_train(out, worlds, per_world, first_seed):
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for s in range(first_seed, first_seed + worlds):
            ex = Examples(World(s), random.Random(s * 31 + 7))
            for p, c in ex.generate(per_world):
                f.write(json.dumps({"prompt": p, "completion": c}) + "\n")
                n += 1
    print(f"{n} examples from {worlds} worlds -> {out}", file=sys.stderr)


def cmd_calib(out, n, seed):
    """Calibration text for `rewoo quantize --calib`: examples of a world that is
    neither the demo corpus nor a training world, prompt and answer together."""
    ex = Examples(World(seed), random.Random(seed * 31 + 7))
    with open(out, "w", encoding="utf-8") as f:
        for p, c in ex.generate(n):
            f.write(p + c + "\n\n")
    print(f"{n} calibration examples (world {seed}) -> {out}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("out_dir")
    k = sub.add_parser("check")
    k.add_argument("out_dir")
    t = sub.add_parser("train")
    t.add_argument("out")
    t.add_argument("--worlds", type=int, default=400)
    t.add_argument("--per-world", type=int, default=500)
    t.add_argument("--first-seed", type=int, default=1)
    b = sub.add_parser("calib")
    b.add_argument("out")
    b.add_argument("-n", type=int, default=64)
    b.add_argument("--seed", type=int, default=90001)
    a = ap.parse_args()
    if a.cmd == "calib":
        cmd_calib(a.out, a.n, a.seed)
    elif a.cmd == "corpus":
        cmd_corpus(a.out_dir)
    elif a.cmd == "check":
        cmd_check(a.out_dir)
    else:
        cmd_train(a.out, a.worlds, a.per_world, a.first_seed)


if __name__ == "__main__":
    main()
