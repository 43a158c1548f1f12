"""The documentation holds together: every relative link and #anchor in the
Markdown files (README.md, ARCHITECTURE.md, docs/, and any other *.md of the
tree) leads somewhere, every examples/*.yml is linked from some page, and
every whole compose file a page shows is one of examples/*.yml, byte for
byte (t/test_examples.py runs those in podman: what the pages show is what
is run).

Anchors follow GitHub's rule for headings: the heading's text, lower-cased,
with everything but letters, digits, spaces, hyphens and underscores removed,
spaces made hyphens; a repeated slug gets -1, -2 ... Needs nothing but python.
"""

import glob
import os
import re
import shutil
import tempfile
import unittest

import wl

LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto: ...


def markdown_files(top):
    found = []
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [os.path.join(root, f) for f in sorted(files) if f.endswith(".md")]
    return found


def prose_lines(text):
    """(line number, line) outside fenced code blocks, inline code blanked."""
    fence = None
    for number, line in enumerate(text.split("\n"), 1):
        marker = re.match(r"^\s*(```+|~~~+)", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[:3]
            elif marker.group(1).startswith(fence):
                fence = None
            continue
        if fence is None:
            yield number, re.sub(r"(`+)(?:(?!\1).)*?\1", lambda m: " " * len(m.group(0)), line)


def slug(heading):
    """GitHub's anchor for a heading's Markdown text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    """Every heading's anchor in a Markdown text, GitHub's way."""
    seen, found = {}, set()
    fence = None
    for line in text.split("\n"):
        marker = re.match(r"^\s*(```+|~~~+)", line)
        if marker:
            fence = None if fence else marker.group(1)[:3]
            continue
        heading = HEADING.match(line) if fence is None else None
        if heading:
            base = slug(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else "%s-%d" % (base, count))
    found |= set(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", text))
    return found


def links(path):
    """(line number, target) of every link and image in a Markdown file."""
    with open(path) as f:
        text = f.read()
    for number, line in prose_lines(text):
        for pattern in (LINK, IMAGE):
            for match in pattern.finditer(line):
                yield number, match.group(1)


def broken_links(top):
    """["FILE:LINE: TARGET: why"] for every relative link that leads nowhere."""
    problems, cache = [], {}
    for path in markdown_files(top):
        for number, target in links(path):
            if EXTERNAL.match(target):
                continue
            where, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), where)) if where else path
            said = "%s:%d: %s" % (os.path.relpath(path, top), number, target)
            if not os.path.realpath(dest).startswith(os.path.realpath(top) + os.sep) and \
                    os.path.realpath(dest) != os.path.realpath(top):
                problems.append(said + ": outside the repository")
            elif not os.path.exists(dest):
                problems.append(said + ": no such file")
            elif anchor:
                if not dest.endswith(".md"):
                    problems.append(said + ": an anchor into a file that is not Markdown")
                    continue
                if dest not in cache:
                    with open(dest) as f:
                        cache[dest] = anchors(f.read())
                if anchor not in cache[dest]:
                    problems.append(said + ": no heading with that anchor")
    return problems


def compose_blocks(path):
    """(line, text) of each fenced yaml block that is a whole compose file:
    top-level `services:` and `networks:`."""
    with open(path) as f:
        lines = f.read().split("\n")
    blocks, start = [], None
    for number, line in enumerate(lines, 1):
        if start is None and re.match(r"^```ya?ml\s*$", line):
            start = number
        elif start is not None and line.startswith("```"):
            body = lines[start:number - 1]
            if "services:" in body and any(b.startswith("networks:") for b in body):
                blocks.append((start, "\n".join(body) + "\n"))
            start = None
    return blocks


class TestLinkChecker(unittest.TestCase):
    """The checker itself: it must see a broken link, or it proves nothing."""

    def setUp(self):
        self.top = tempfile.mkdtemp(prefix="wl-docs-")
        self.addCleanup(shutil.rmtree, self.top)
        os.mkdir(os.path.join(self.top, "docs"))

    def write(self, name, text):
        with open(os.path.join(self.top, name), "w") as f:
            f.write(text)

    def test_slugs_as_github_makes_them(self):
        self.assertEqual(slug("Who may connect: ALLOW_FROM"), "who-may-connect-allow_from")
        self.assertEqual(slug("Several hosts through one proxy: routed mode"),
                         "several-hosts-through-one-proxy-routed-mode")
        self.assertEqual(slug("`PORT` and [ranges](x.md)"), "port-and-ranges")
        self.assertEqual(anchors("# A\n## A\n```\n# A\n```\n### A"), {"a", "a-1", "a-2"})

    def test_a_good_set_passes(self):
        self.write("README.md", "[t](docs/t.md#two-words) [s](#top) [e](https://x.example/#q)\n"
                   "# Top\n`[not](a-link.md)`\n```\n[not](either.md)\n```\n")
        self.write("docs/t.md", "# Two words\n[back](../README.md)\n")
        self.assertEqual(broken_links(self.top), [])

    def test_a_missing_file_an_anchor_and_an_escape_are_seen(self):
        self.write("README.md", "# Top\n[a](docs/gone.md) [b](docs/t.md#nowhere)\n"
                   "[c](#not-here) [d](../../etc/passwd)\n")
        self.write("docs/t.md", "# T\n")
        problems = broken_links(self.top)
        self.assertEqual(len(problems), 4, problems)
        for problem, why in zip(problems, ["no such file", "no heading", "no heading",
                                           "outside the repository"]):
            self.assertIn(why, problem)


class TestDocs(unittest.TestCase):
    """The repository's own pages."""

    def test_every_relative_link_and_anchor_resolves(self):
        problems = broken_links(wl.TOP)
        self.assertEqual(problems, [], "broken links:\n" + "\n".join(problems))

    def test_the_readme_and_the_docs_are_checked(self):
        names = [os.path.relpath(p, wl.TOP) for p in markdown_files(wl.TOP)]
        for name in ["README.md", "ARCHITECTURE.md", "docs/routed-mode.md"]:
            self.assertIn(name, names)

    def test_every_example_is_linked_from_a_page(self):
        targets = set()
        for path in markdown_files(wl.TOP):
            for _, target in links(path):
                where = target.partition("#")[0]
                if where and not EXTERNAL.match(target):
                    targets.add(os.path.normpath(os.path.join(os.path.dirname(path), where)))
        examples = sorted(glob.glob(os.path.join(wl.TOP, "examples", "*.yml")))
        self.assertTrue(examples, "examples/*.yml")
        for example in examples:
            with self.subTest(example=os.path.basename(example)):
                self.assertIn(os.path.normpath(example), targets, "no page links to it")

    def test_every_compose_file_shown_is_an_example(self):
        examples = {}
        for example in glob.glob(os.path.join(wl.TOP, "examples", "*.yml")):
            with open(example) as f:
                examples[f.read()] = example
        for path in markdown_files(wl.TOP):
            for line, block in compose_blocks(path):
                with self.subTest(page=os.path.relpath(path, wl.TOP), line=line):
                    self.assertIn(block, examples, "a whole compose file that is not, byte "
                                  "for byte, one of examples/*.yml (which are run in podman)")


if __name__ == "__main__":
    unittest.main()
