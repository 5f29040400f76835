"""fetchmail MDA for tests: stores the message on stdin as the next numbered file in DIR."""
import os
import sys


def main():
    directory = sys.argv[1]
    os.makedirs(directory, exist_ok=True)
    number = len(os.listdir(directory)) + 1
    with open(os.path.join(directory, "%06d.eml" % number), "wb") as out:
        out.write(sys.stdin.buffer.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
