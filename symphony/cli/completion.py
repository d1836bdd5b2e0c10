"""``symphony completion bash|zsh|fish``: a shell completion script, printed.

    eval "$(symphony completion bash)"                           # in ~/.bashrc
    eval "$(symphony completion zsh)"                            # in ~/.zshrc (after compinit)
    symphony completion fish > ~/.config/fish/completions/symphony.fish

The script is generated from the argparse parser itself (:func:`command_tree`), so it
always knows exactly the commands and flags this version has, and it is static: a TAB
runs no Python (starting the interpreter for every TAB, as argcomplete does, costs
~100 ms each time and a dependency). It completes commands (``token create``), flags,
the choices of a flag that has them, and file names everywhere else.

bash and zsh share the same two lookup functions (a ``case`` on the command path
reads the same in both shells); fish gets its own ``complete`` lines.
"""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")
#: In the value tables: complete file names / complete nothing (a number, a name...).
FILES, ANY = "__files__", "__any__"


class Command:
    """One command of the tree: its sub-commands, flags and flags' choices.

    A plain class, not a dataclass: this module is imported by every ``symphony``
    command (for its parser), and ``dataclasses`` pulls in ``inspect``.
    """

    def __init__(self, help: str = "") -> None:
        self.help = help
        self.subcommands: dict[str, Command] = {}
        self.flags: list[str] = []
        #: Flags that take a value: their choices, or ``[FILES]`` / ``[ANY]``.
        self.values: dict[str, list[str]] = {}
        self.helps: dict[str, str] = {}


def command_tree(parser: argparse.ArgumentParser, help: str = "") -> Command:
    """The commands and flags of ``parser``, recursively."""
    node = Command(help=help)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                node.subcommands[name] = command_tree(sub, helps.get(name, ""))
            continue
        if not action.option_strings and action.choices:  # `completion bash`
            node.subcommands.update({str(c): Command() for c in action.choices})
        for flag in action.option_strings:
            node.flags.append(flag)
            node.helps[flag] = (action.help or "").replace("%(default)s", str(action.default))
            if action.nargs != 0:
                node.values[flag] = [str(c) for c in action.choices or ()] or [_kind(action)]
    return node


def _kind(action: argparse.Action) -> str:
    """What any value of a flag without choices is: a path (complete file names) or not."""
    names = f"{action.metavar or ''} {action.dest}".lower()
    return FILES if any(w in names for w in ("file", "dir", "path", "config")) else ANY


def walk(node: Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Command]]:
    """Every command with its path, the root (``()``) first."""
    found = [(path, node)]
    for name, sub in node.subcommands.items():
        found += walk(sub, (*path, name))
    return found


def _case(entries: list[tuple[str, str]]) -> str:
    lines = [f'        "{key}") echo "{value}" ;;' for key, value in entries]
    return "\n".join(lines)


def shared_functions(tree: Command) -> str:
    """``_symphony_subs PATH``, ``_symphony_flags PATH``, ``_symphony_values PATH FLAG``."""
    commands = walk(tree)
    subs = [(" ".join(p), " ".join(n.subcommands)) for p, n in commands if n.subcommands]
    flags = [(" ".join(p), " ".join(n.flags)) for p, n in commands]
    values = [
        (f"{' '.join(p)}|{flag}", " ".join(choices))
        for p, n in commands
        for flag, choices in n.values.items()
    ]
    return f"""\
_symphony_subs() {{
    case "$1" in
{_case(subs)}
    esac
}}
_symphony_flags() {{
    case "$1" in
{_case(flags)}
    esac
}}
_symphony_values() {{
    case "$1|$2" in
{_case(values)}
    esac
}}
_symphony_path() {{
    # The command path of the words before the cursor ("token create"), skipping flags
    # and their values.
    local cmdpath="" word subs prev=""
    for word in "$@"; do
        if [ -n "$prev" ] && [ -n "$(_symphony_values "$cmdpath" "$prev")" ]; then
            prev=""
            continue
        fi
        prev="$word"
        subs=" $(_symphony_subs "$cmdpath") "
        case "$word" in -*) continue ;; esac
        case "$subs" in *" $word "*) cmdpath="${{cmdpath:+$cmdpath }}$word" ;; esac
    done
    echo "$cmdpath"
}}
"""


def bash_script(tree: Command) -> str:
    return f"""\
# symphony completion for bash. Load it with: eval "$(symphony completion bash)"
{shared_functions(tree)}
_symphony() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmdpath words
    cmdpath="$(_symphony_path "${{COMP_WORDS[@]:1:COMP_CWORD-1}}")"
    if [ "$COMP_CWORD" -gt 1 ] && [ "${{prev#-}}" != "$prev" ]; then
        words="$(_symphony_values "$cmdpath" "$prev")"
        if [ "$words" = "__files__" ]; then
            COMPREPLY=($(compgen -f -- "$cur"))
            return
        elif [ "$words" = "__any__" ]; then
            COMPREPLY=()
            return
        elif [ -n "$words" ]; then
            COMPREPLY=($(compgen -W "$words" -- "$cur"))
            return
        fi
    fi
    case "$cur" in
        -*) COMPREPLY=($(compgen -W "$(_symphony_flags "$cmdpath")" -- "$cur")) ;;
        *)
            words="$(_symphony_subs "$cmdpath")"
            if [ -n "$words" ]; then
                COMPREPLY=($(compgen -W "$words" -- "$cur"))
            else
                COMPREPLY=($(compgen -f -- "$cur"))
            fi
            ;;
    esac
}}
complete -o filenames -F _symphony symphony
"""


def zsh_script(tree: Command) -> str:
    return f"""\
# symphony completion for zsh. Load it with: eval "$(symphony completion zsh)"
# (after compinit), or save it as _symphony in a directory of your $fpath.
{shared_functions(tree)}
_symphony() {{
    local cur="${{words[CURRENT]}}" prev="${{words[CURRENT-1]}}" cmdpath choices
    cmdpath="$(_symphony_path "${{(@)words[2,CURRENT-1]}}")"
    if (( CURRENT > 2 )) && [[ "$prev" == -* ]]; then
        choices="$(_symphony_values "$cmdpath" "$prev")"
        if [[ "$choices" == "__files__" ]]; then
            _files
            return
        elif [[ "$choices" == "__any__" ]]; then
            return
        elif [[ -n "$choices" ]]; then
            compadd -- ${{=choices}}
            return
        fi
    fi
    if [[ "$cur" == -* ]]; then
        choices="$(_symphony_flags "$cmdpath")"
        compadd -- ${{=choices}}
    else
        choices="$(_symphony_subs "$cmdpath")"
        if [[ -n "$choices" ]]; then
            compadd -- ${{=choices}}
        else
            _files
        fi
    fi
}}
compdef _symphony symphony
"""


def _fish_quote(text: str) -> str:
    return "'" + " ".join(text.split()).replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(tree: Command) -> str:
    lines = ["# symphony completion for fish. Save it as ~/.config/fish/completions/symphony.fish"]
    lines.append("complete -c symphony -f")
    for path, node in walk(tree):
        if path:
            condition = f"__fish_seen_subcommand_from {path[-1]}"
            if len(path) > 1:
                condition = f"__fish_seen_subcommand_from {path[-2]}; and {condition}"
        else:
            condition = "__fish_use_subcommand"
        if node.subcommands:
            if path:
                condition += f"; and not __fish_seen_subcommand_from {' '.join(node.subcommands)}"
            for name, sub in node.subcommands.items():
                lines.append(
                    f"complete -c symphony -n {_fish_quote(condition)}"
                    f" -a {name} -d {_fish_quote(sub.help)}"
                )
            if path:
                condition = condition.split("; and not ")[0]
        for flag in node.flags:
            kind = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            value = ""
            if flag in node.values:
                choices = node.values[flag]
                if choices == [FILES]:
                    value = " -r -F"
                elif choices == [ANY]:
                    value = " -x"
                else:
                    value = f" -x -a {_fish_quote(' '.join(choices))}"
            lines.append(
                f"complete -c symphony -n {_fish_quote(condition)} {kind}{value}"
                f" -d {_fish_quote(node.helps.get(flag, ''))}"
            )
    return "\n".join(lines) + "\n"


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script of ``shell`` for ``parser``."""
    tree = command_tree(parser)
    return {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}[shell](tree)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh, fish)",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from . import _table as t
    from ._app import build_parser

    t.emit(script(args.shell, build_parser()))
    return 0
