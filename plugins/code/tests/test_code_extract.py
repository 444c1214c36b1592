from grpo_reward_code import extract_code


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
