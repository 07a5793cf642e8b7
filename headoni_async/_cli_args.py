"""What the ``headoni`` command accepts: argument types that refuse bad numbers,
the global options accepted before or after a subcommand, and the text that
ends ``headoni --help``. Pure argparse; nothing here touches the network."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ._version import VERSION

__all__ = ["EPILOG", "VERSION_TEXT", "accept_global_options_everywhere", "bash_completion", "int_in"]

VERSION_TEXT = f"headoni {VERSION} (headoni-async, Python {sys.version_info[0]}.{sys.version_info[1]})"

EPILOG = """\
environment variables:
  HEADONI_DESK       desk slug, as --desk (acme for acme.headoni.app)
  HEADONI_TOKEN      API token, as --token (prefer this: a flag shows in the process list)
  HEADONI_BASE_URL   API base URL, as --base-url (a local fake desk, say); --desk is then optional

exit codes:
  0    success
  1    the API or the network failed (the message says which, and what was saved)
  2    bad usage or configuration, or an argument refused locally (nothing was sent)
  130  interrupted (Ctrl-C); an export keeps its checkpoint: run it again with --resume
  143  terminated (SIGTERM), handled like Ctrl-C

examples:
  export HEADONI_DESK=acme HEADONI_TOKEN=hd_...
  headoni tickets --status open --limit 20
  headoni export --out tickets.jsonl --resume
"""


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in ``low..high``; argparse turns the
    ``ArgumentTypeError`` into a usage error (exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: it must be {bounds}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def accept_global_options_everywhere(
    parser: argparse.ArgumentParser, shared: list[argparse.Action] | None = None
) -> None:
    """Let the main parser's options (``--desk``, ``-v``, ...) also follow any
    subcommand, as gh and kubectl allow: ``headoni departments -v``.

    Each subcommand gets copies whose default is ``SUPPRESS``, so an option
    given before the subcommand is kept unless it is given again after it.
    """
    if shared is None:
        shared = [
            a
            for a in parser._actions
            if a.option_strings and not isinstance(a, argparse._HelpAction | argparse._VersionAction)
        ]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _copy_options(shared, sub)
                accept_global_options_everywhere(sub, shared)


def _copy_options(shared: list[argparse.Action], sub: argparse.ArgumentParser) -> None:
    group = sub.add_argument_group("global options (also accepted before the subcommand)")
    for action in shared:
        kwargs: dict[str, object] = {"dest": action.dest, "default": argparse.SUPPRESS, "help": action.help}
        if isinstance(action, argparse._StoreTrueAction):
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = action.metavar
            if action.type is not None:
                kwargs["type"] = action.type
        group.add_argument(*action.option_strings, **kwargs)  # type: ignore[arg-type]


def bash_completion(parser: argparse.ArgumentParser) -> str:
    """A bash completion script for ``parser``'s subcommands and options (zsh:
    ``autoload -U bashcompinit && bashcompinit`` first). Pure."""
    words: dict[str, list[str]] = {}

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        subs: list[str] = []
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    subs.append(name)
                    walk(sub, f"{path} {name}".strip())
        words[path] = subs + [s for a in p._actions for s in a.option_strings]

    walk(parser, "")
    cases = "".join(f'        "{path}") echo "{" ".join(found)}" ;;\n' for path, found in words.items())
    return (
        '# bash completion for headoni: eval "$(headoni completion bash)"\n'
        "_headoni_words() {\n"
        '    case "$1" in\n'
        f"{cases}"
        "        *) return 1 ;;\n"
        "    esac\n"
        "}\n"
        "_headoni() {\n"
        '    local path="" word next\n'
        '    for word in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do\n'
        '        case "$word" in -*) continue ;; esac\n'
        '        next="${path:+$path }$word"\n'
        '        _headoni_words "$next" >/dev/null && path="$next"\n'
        "    done\n"
        '    mapfile -t COMPREPLY < <(compgen -W "$(_headoni_words "$path")" \\\n'
        '        -- "${COMP_WORDS[COMP_CWORD]}")\n'
        "}\n"
        "complete -F _headoni headoni\n"
    )
