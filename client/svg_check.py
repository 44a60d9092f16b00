"""Checks a timeline SVG: well-formed XML, and what it draws.

Usage: svg_check.py FILE. Prints "lanes=N bars=N deadlines=N
client_deadline=N cancels=N labels=a|b|c" and exits 0, or exits 1 with the
parse error.
"""
import sys
import xml.etree.ElementTree as ElementTree

NS = "{http://www.w3.org/2000/svg}"


def main(path):
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        print(f"not well-formed: {error}")
        return 1
    lanes = root.findall(f"{NS}g[@class='lane']")
    count = lambda cls: len(root.findall(f".//*[@class='{cls}']"))
    labels = "|".join(lane.get("data-hop", "") for lane in lanes)
    print(f"lanes={len(lanes)} bars={count('bar')} deadlines={count('deadline')}"
          f" client_deadline={count('client-deadline')}"
          f" cancels={count('cancel')} labels={labels}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
