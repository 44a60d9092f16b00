#!/usr/bin/python3
"""Every file, Bazel target and test that docs/guide.md names exists.

The guide names things in `code spans`:
- repository paths, from the top of the repository (`server/deadline/propagation.cc`,
  `server/deadline/fan_out.*`), and relative links, from docs/ ([text](../README.md));
- Bazel targets (`//tests:chain_test`, `//client`);
- tests, as `Suite.Name` after the target that holds them, on the same
  line; `Prefix*` matches any test whose suite or name starts so.

A path must exist; a target must be a rule (or a file) in its package's
BUILD; a test must be defined by TEST, TEST_F or TEST_P in one of the
target's srcs (a `def test_...` of that class in a Python test). Names of
work not landed yet are listed in PLANNED, and must not exist yet: once
one lands, remove it (and its "(coming)" in the guide).

The counts the guide states at its top ("Part one has N ideas and part
two M pitfalls"), and the README repeats, match its numbered headings.

Every grpc/grpc issue or pull request that the guide or the README cites
(as a github.com/grpc/grpc link or as grpc/grpc#N) has a row in
docs/citations.md with its evidence: a file:line of gRPC 1.51.1's source,
or the thread's own words in quotes. Every row there is cited, and no
issue number appears bare, without its repository.

The repository is read where this script's runfile points (the source
tree), so tests/BUILD tags it "external": it always runs, never from the
cache.
"""
import glob
import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
GUIDE = os.path.join(ROOT, "docs", "guide.md")
README = os.path.join(ROOT, "README.md")
CITATIONS = os.path.join(ROOT, "docs", "citations.md")

# Names the guide uses for work being built on other branches now. Each
# fails the check until it lands; then the check fails until it is removed
# from here.
PLANNED = set()

# Code spans that look like paths but name other people's files.
FOREIGN_PREFIXES = ("grpcpp/", "grpc/", "absl/", "google/", "/usr/")

CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
TARGET = re.compile(r"^//([a-z0-9_/]*)(?::([A-Za-z0-9_.+-]+))?$")
TEST_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*Test\.[A-Za-z_][A-Za-z0-9_]*$")
TEST_GLOB = re.compile(r"^[A-Z][A-Za-z0-9_.]*\*$")
PATH = re.compile(
    r"^[A-Za-z0-9_.*-]+(/[A-Za-z0-9_.*-]+)+/?$|^[A-Z]+[A-Za-z]*\.md$")
RULE = re.compile(r"\b([a-z_]+)\(\s*\n?\s*name\s*=\s*\"([^\"]+)\"")
SRCS = re.compile(r"\bsrcs\s*=\s*\[([^\]]*)\]", re.S)
CC_TEST = re.compile(r"\bTEST(?:_F|_P)?\(\s*(\w+)\s*,\s*(\w+)\s*\)")
PY_TEST = re.compile(r"^class (\w+)|^\s+def (test_\w+)\(", re.M)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rules_of(package):
    """{name: (kind, [src paths])} of the BUILD file of `package`, or None."""
    build = os.path.join(ROOT, package, "BUILD")
    if not os.path.isfile(build):
        return None
    text = read(build)
    rules = {}
    starts = [(m.start(), m.group(1), m.group(2)) for m in RULE.finditer(text)]
    for i, (start, kind, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = text[start:end]
        srcs = []
        match = SRCS.search(body)
        if match:
            for src in re.findall(r"\"([^\"]+)\"", match.group(1)):
                if not src.startswith((":", "//", "@")):
                    srcs.append(os.path.join(ROOT, package, src))
        rules[name] = (kind, srcs)
    return rules


def split_target(label):
    """("tests", "chain_test") from //tests:chain_test, ("client", "client")
    from //client; None if it is not a label."""
    match = TARGET.match(label)
    if not match:
        return None
    package, name = match.group(1), match.group(2)
    return package, name or os.path.basename(package)


def check_target(label):
    """An error message, or None when the target exists."""
    package, name = split_target(label)
    rules = rules_of(package)
    if rules is None:
        return f"{label}: no package {package}/ with a BUILD file"
    if name in rules or os.path.isfile(os.path.join(ROOT, package, name)):
        return None
    return f"{label}: no target {name} in {package}/BUILD"


def tests_of(label):
    """The test names ("Suite.Name"; "Class.test_x" in Python) in the srcs
    of the target `label`."""
    package, name = split_target(label)
    rules = rules_of(package) or {}
    names = set()
    for src in rules.get(name, ("", []))[1]:
        if not os.path.isfile(src):
            continue
        text = read(src)
        if src.endswith(".py"):
            suite = ""
            for cls, method in PY_TEST.findall(text):
                suite = cls or suite
                if method:
                    names.add(f"{suite}.{method}")
        else:
            names.update(f"{s}.{t}" for s, t in CC_TEST.findall(text))
    return names


def check_test(label, test):
    """An error message, or None when `test` is in the srcs of `label`."""
    names = tests_of(label)
    if test.endswith("*"):
        prefix = test[:-1]
        found = any(n.startswith(prefix) or n.split(".")[-1].startswith(prefix)
                    for n in names)
    else:
        found = test in names
    if found:
        return None
    return f"{label} {test}: no such test in the target's srcs"


def check_path(path):
    """An error message, or None when `path` (from the top) exists."""
    path = path.rstrip("/")
    if any(ch in path for ch in "*?["):
        if glob.glob(os.path.join(ROOT, path)):
            return None
    elif os.path.exists(os.path.join(ROOT, path)):
        return None
    return f"{path}: no such file or folder"


def check_link(target):
    """An error message, or None for a relative link that resolves from
    docs/ (web links are not followed)."""
    if re.match(r"^[a-z]+:", target) or target.startswith("#"):
        return None
    path = target.split("#", 1)[0]
    if os.path.exists(os.path.normpath(os.path.join(ROOT, "docs", path))):
        return None
    return f"link {target}: no such file from docs/"


def references(line):
    """What `line` names, in order: ("path", p), ("link", l), ("target", t)
    and ("test", label, name); ("error", message) for a test with no target
    before it on the line."""
    found = [("link", m.group(1)) for m in LINK.finditer(line)]
    label = None
    for span in CODE_SPAN.findall(line):
        span = span.strip()
        if split_target(span):
            label = span
            found.append(("target", span))
        elif TEST_NAME.match(span) or TEST_GLOB.match(span):
            if label is None:
                found.append(("error", f"{span}: a test named without its "
                                       "target before it on the line"))
            else:
                found.append(("test", label, span))
        elif ("://" not in span and not span.startswith(FOREIGN_PREFIXES)
              and PATH.match(span)):
            found.append(("path", span))
    return found


GRPC_CITATION = re.compile(
    r"github\.com/grpc/grpc/(?:issues|pull)/(\d+)|\bgrpc/grpc#(\d+)")
BARE_NUMBER = re.compile(r"#(\d{3,})\b")
CITATION_ROW = re.compile(r"^\| grpc/grpc#(\d+) \|([^|]*)\|(.*)\|\s*$", re.M)
SOURCE_LINE = re.compile(r"[\w./-]+\.(?:cc|h|md|proto|py):\d+")
QUOTE = re.compile(r"\"[^\"]{8,}\"")
COUNTS = re.compile(r"Part one has (\d+) ideas and part two (\d+) pitfalls")
README_COUNTS = re.compile(r"\((\d+) ideas\) and the pitfalls \((\d+)\)")
NUMBERED = re.compile(r"^### (\d+)\. ", re.M)


def cited_numbers(text):
    """The grpc/grpc issue and pull request numbers `text` cites."""
    return {int(a or b) for a, b in GRPC_CITATION.findall(text)}


def bare_numbers(text):
    """Issue-like numbers (#123) in `text` that no grpc/grpc citation of
    the same text accounts for."""
    cited = cited_numbers(text)
    return {int(n) for n in BARE_NUMBER.findall(text)} - cited


def citation_rows(text):
    """{number: evidence} of the table rows of docs/citations.md."""
    return {int(number): evidence.strip()
            for number, _, evidence in CITATION_ROW.findall(text)}


def check_citations(cited, rows):
    """Error messages: a cited number without a row, a row without
    evidence, a row nobody cites."""
    errors = []
    for number in sorted(cited - set(rows)):
        errors.append(f"grpc/grpc#{number} is cited but not in "
                      "docs/citations.md")
    for number, evidence in sorted(rows.items()):
        if not (SOURCE_LINE.search(evidence) or QUOTE.search(evidence)):
            errors.append(f"grpc/grpc#{number}: its row has no file:line "
                          "and no quote")
        if number not in cited:
            errors.append(f"grpc/grpc#{number}: listed in docs/citations.md "
                          "but cited nowhere")
    return errors


def check_counts(guide, readme):
    """Error messages when the counts stated at the top of the guide, or
    in the README, differ from the guide's numbered headings (each part
    numbered 1, 2, ... N)."""
    part_one = guide.split("## Part one", 1)[-1].split("## Part two", 1)[0]
    part_two = guide.split("## Part two", 1)[-1].split("\n## ", 1)[0]
    actual = []
    errors = []
    for name, part in (("part one", part_one), ("part two", part_two)):
        numbers = [int(n) for n in NUMBERED.findall(part)]
        if numbers != list(range(1, len(numbers) + 1)):
            errors.append(f"{name} is not numbered 1 to N: {numbers}")
        actual.append(len(numbers))
    for where, pattern, text in (("guide", COUNTS, guide),
                                 ("README", README_COUNTS, readme)):
        match = pattern.search(text)
        if not match:
            errors.append(f"the {where} states no counts of ideas and "
                          "pitfalls")
        elif [int(match.group(1)), int(match.group(2))] != actual:
            errors.append(f"the {where} says {match.group(1)} ideas and "
                          f"{match.group(2)} pitfalls; the guide has "
                          f"{actual[0]} and {actual[1]}")
    return errors


def check_line(line, planned=frozenset(PLANNED)):
    """(errors, planned names used, references checked) for one line."""
    errors, used, count = [], set(), 0
    for ref in references(line):
        kind = ref[0]
        if kind == "error":
            errors.append(ref[1])
            continue
        count += 1
        if kind == "test":
            key = f"{ref[1]} {ref[2]}"
            error = check_target(ref[1]) or check_test(ref[1], ref[2])
        else:
            key = ref[1]
            error = {"path": check_path, "link": check_link,
                     "target": check_target}[kind](ref[1])
        if key in planned:
            used.add(key)
            if error is None:
                errors.append(f"{key} exists now: remove it from PLANNED")
        elif error:
            errors.append(error)
    return errors, used, count


class GuideLinksTest(unittest.TestCase):

    def test_every_name_in_the_guide_exists(self):
        errors, used, count, tests = [], set(), 0, 0
        for number, line in enumerate(read(GUIDE).splitlines(), 1):
            line_errors, line_used, line_count = check_line(line)
            errors += [f"docs/guide.md:{number}: {e}" for e in line_errors]
            used |= line_used
            count += line_count
            tests += sum(1 for r in references(line) if r[0] == "test")
        self.assertEqual(errors, [], "\n" + "\n".join(errors))
        # The parser found what the guide names (not nothing, silently).
        self.assertGreater(count, 150)
        self.assertGreater(tests, 80)
        self.assertEqual(PLANNED - used, set(),
                         "PLANNED names the guide no longer uses")

    def test_the_counts_match_the_headings(self):
        errors = check_counts(read(GUIDE), read(README))
        self.assertEqual(errors, [], "\n" + "\n".join(errors))

    def test_every_grpc_citation_is_listed_with_its_evidence(self):
        guide, readme = read(GUIDE), read(README)
        cited = cited_numbers(guide) | cited_numbers(readme)
        rows = citation_rows(read(CITATIONS))
        errors = check_citations(cited, rows)
        for where, text in (("docs/guide.md", guide), ("README.md", readme)):
            errors += [f"{where}: #{n} is cited without its repository"
                       for n in sorted(bare_numbers(text))]
        self.assertEqual(errors, [], "\n" + "\n".join(errors))
        # The parsers found what is there (not nothing, silently).
        self.assertGreater(len(cited), 15)
        self.assertEqual(len(rows), len(cited))

    def test_a_bad_citation_of_each_kind_fails(self):
        rows = citation_rows(
            "| citation | cited for | evidence |\n"
            "| grpc/grpc#1 | x | `src/core/lib/surface/call.cc:768` |\n"
            "| grpc/grpc#2 | x | the maintainer said no |\n"
            "| grpc/grpc#3 | x | issue: \"we will not do this, ever\" |\n")
        self.assertEqual(set(rows), {1, 2, 3})
        errors = check_citations({1, 2, 3, 4}, rows)
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("grpc/grpc#4 is cited but not", errors[0])
        self.assertIn("grpc/grpc#2: its row has no file:line", errors[1])
        self.assertIn("cited nowhere", check_citations({1}, {1: "a.cc:1",
                                                            5: "b.h:2"})[0])
        text = ("[#10](https://github.com/grpc/grpc/pull/10), grpc/grpc#11 "
                "and [#12](https://github.com/other/repo/issues/12), #123")
        self.assertEqual(cited_numbers(text), {10, 11})
        self.assertEqual(bare_numbers(text), {123})

    def test_wrong_counts_fail(self):
        guide = ("Part one has 2 ideas and part two 1 pitfalls.\n"
                 "## Part one\n### 1. a\n### 2. b\n### Unnumbered\n"
                 "## Part two: pitfalls\n### 1. c\n## Sources\n### 7. d\n")
        self.assertEqual(
            check_counts(guide, "(2 ideas) and the pitfalls (1)"), [])
        errors = check_counts(guide.replace("has 2 ideas", "has 3 ideas"),
                              "(2 ideas) and the pitfalls (2)")
        self.assertEqual(len(errors), 2, errors)
        self.assertIn("the guide says 3 ideas", errors[0])
        self.assertIn("the README says 2 ideas and 2 pitfalls", errors[1])
        self.assertIn("not numbered",
                      check_counts(guide.replace("### 2. b", "### 3. b"),
                                   "")[0])

    def test_a_bad_name_of_each_kind_fails(self):
        bad = {
            "`server/no_such_file.cc`": "no such file",
            "`server/no_such_*.h`": "no such file",
            "[the README](../NO_SUCH_README.md)": "link",
            "`//tests:no_such_test`": "no target",
            "`//no_such_package:x`": "no package",
            "`//tests:chain_test` `ChainTest.NoSuchTest`": "no such test",
            "`//tests:chain_test` `NoSuchPrefix*`": "no such test",
            "`//tests:guide_links_test` "
            "`OtherTest.test_a_bad_name_of_each_kind_fails`": "no such test",
            "`ChainTest.ClientCancellationReachesTheBackend`": "without its",
        }
        for line, why in bad.items():
            errors, _, _ = check_line(line, planned=frozenset())
            self.assertEqual(len(errors), 1, f"{line!r} gave {errors}")
            self.assertIn(why, errors[0], line)

    def test_good_names_of_each_kind_pass(self):
        line = ("`server/deadline/propagation.cc`, `server/deadline/fan_out.*`, "
                "[README](../README.md#layout), `//client`, "
                "`//tests:chain_test` "
                "`ChainTest.ClientCancellationReachesTheBackend` "
                "`ChainTraceTest.AnInsaneRequestIdIsReplaced` "
                "`ChainTest.Ok*`, "
                "`//tests:guide_links_test` "
                "`GuideLinksTest.test_good_names_of_each_kind_pass`, "
                "`grpcpp/server_context.h`, `Backend.Record`, "
                "https://grpc.io/x")
        errors, _, count = check_line(line, planned=frozenset())
        self.assertEqual(errors, [])
        self.assertEqual(count, 10)

    def test_a_planned_name_that_exists_must_leave_the_list(self):
        errors, used, _ = check_line(
            "`server/deadline/propagation.cc`",
            planned=frozenset({"server/deadline/propagation.cc"}))
        self.assertEqual(used, {"server/deadline/propagation.cc"})
        self.assertIn("remove it from PLANNED", errors[0])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
