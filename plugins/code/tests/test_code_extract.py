import random
import re

from grpo_reward_code import extract_code
from grpo_reward_code.extract import fenced_blocks


def test_last_python_block_wins():
    text = "first\n```python\nx = 1\n```\nthen\n```py\nx = 2\n```\n"
    assert extract_code(text) == "x = 2\n"
    assert extract_code(text, mode="first_block") == "x = 1\n"


def test_other_language_blocks_are_ignored():
    text = "```python\nprint(1)\n```\n```bash\nls\n```\n"
    assert extract_code(text) == "print(1)\n"
    assert extract_code("```bash\nls\n```") is None


def test_untagged_block_and_fallbacks():
    assert extract_code("```\nprint(3)\n```") == "print(3)\n"
    assert extract_code("print(4)") == "print(4)"
    assert extract_code("print(4)", fallback=False) is None
    assert extract_code("```python\nprint(5)\n") == "print(5)\n"  # unclosed final fence
    assert extract_code("   ") is None
    assert extract_code("```python\n```") is None


def test_whole_mode_and_cpp_aliases():
    assert extract_code("a\n```python\nb\n```", mode="whole") == "a\n```python\nb\n```"
    assert extract_code("```c++\nint main(){}\n```", language="cpp") == "int main(){}\n"


# The fence regex this scanner replaced: the reference for what a block is (it backtracked
# quadratically over openers that never close, so it is only run here, on short texts).
REFERENCE_FENCE = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE
)
REFERENCE_UNCLOSED = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w+#.-]*)[^\n]*\n(.*)\Z", re.DOTALL | re.MULTILINE
)
PIECES = ["```", "````", "~~~", "``", " ", "\t", "python", "py", "cpp", "bash", "x = 1", "\n", "\n", "\r"]


def test_the_scan_finds_what_the_fence_regex_found():
    generator = random.Random(20261128)
    for _ in range(20_000):
        text = "".join(generator.choice(PIECES) for _ in range(generator.randint(0, 24)))
        blocks, first = fenced_blocks(text)
        assert blocks == [(m.group(2), m.group(3)) for m in REFERENCE_FENCE.finditer(text)], repr(text)
        unclosed = REFERENCE_UNCLOSED.search(text)
        assert first == (unclosed and (unclosed.group(2), unclosed.group(3))), repr(text)


def test_openers_that_never_close_cost_a_pass_not_a_square():
    # 64 KB of these held the host's event loop for 19 s with the regex; the scan is linear, so a
    # text 100x that size still takes well under the verifier's per-row budget (no timing asserted:
    # the regex would not finish this within the test run at all)
    text = ("```" + "a" * 60 + "\n") * 100_000
    assert extract_code(text) == text  # no block closes and none is Python: the text as it is
    assert extract_code("```python\n" * 50_000) == "```python\n" * 49_999
    # one fence run as long as the text, and many distinct closing lengths: still one pass
    runs = "".join("`" * n + "\n" for n in range(3, 400))
    assert extract_code("`" * 200_000 + "python\n" + runs) == "".join("`" * n + "\n" for n in range(3, 399))
