package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/alecthomas/kong"
)

// completionCmd is "sharesvc completion bash|zsh|fish": it prints a script
// that completes commands and flags, built from the same command tree as
// the parser, so it never goes stale. Nothing is installed; see README.
type completionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"bash, zsh or fish."`
}

func (c *completionCmd) Run(e *runEnv, k *kong.Context) error {
	tree := completionTree(k.Model.Node)
	switch c.Shell {
	case "bash":
		return writeBash(e.stdout, tree)
	case "zsh":
		// zsh runs the bash function through its bash compatibility.
		fmt.Fprint(e.stdout, "#compdef sharesvc\nautoload -U +X bashcompinit && bashcompinit\n")
		return writeBash(e.stdout, tree)
	}
	return writeFish(e.stdout, tree)
}

// completionNode is what completion needs of one command: its path
// ("" for the program, "link show"), its subcommands and its flags.
type completionNode struct {
	path       string
	commands   []string
	flags      []string // every flag, "--name"
	valueFlags []string // the flags that take a value
}

func completionTree(root *kong.Node) []completionNode {
	var out []completionNode
	var walk func(n *kong.Node, path string)
	walk = func(n *kong.Node, path string) {
		cn := completionNode{path: path}
		for _, ch := range n.Children {
			if ch.Hidden || ch.Type != kong.CommandNode {
				continue
			}
			cn.commands = append(cn.commands, ch.Name)
		}
		for _, group := range n.AllFlags(true) {
			for _, f := range group {
				name := "--" + f.Name
				cn.flags = append(cn.flags, name)
				if !f.IsBool() && !f.IsCounter() {
					cn.valueFlags = append(cn.valueFlags, name)
				}
			}
		}
		sort.Strings(cn.flags)
		sort.Strings(cn.valueFlags)
		out = append(out, cn)
		for _, ch := range n.Children {
			if !ch.Hidden && ch.Type == kong.CommandNode {
				walk(ch, strings.TrimSpace(path+" "+ch.Name))
			}
		}
	}
	walk(root, "")
	return out
}

// writeCase writes a shell function that prints, for the path in its first
// argument, the words pick returns.
func writeCase(w io.Writer, name string, tree []completionNode, pick func(completionNode) []string, bash bool) {
	if bash {
		fmt.Fprintf(w, "%s() {\n    case \"$1\" in\n", name)
		for _, n := range tree {
			if ws := pick(n); len(ws) > 0 {
				fmt.Fprintf(w, "    %q) echo %s ;;\n", n.path, strings.Join(ws, " "))
			}
		}
		fmt.Fprint(w, "    esac\n}\n")
		return
	}
	fmt.Fprintf(w, "function %s\n    switch \"$argv[1]\"\n", name)
	for _, n := range tree {
		if ws := pick(n); len(ws) > 0 {
			fmt.Fprintf(w, "        case %s\n            printf '%%s\\n' %s\n", fishQuote(n.path), strings.Join(ws, " "))
		}
	}
	fmt.Fprint(w, "    end\nend\n")
}

func commands(n completionNode) []string   { return n.commands }
func flags(n completionNode) []string      { return n.flags }
func valueFlags(n completionNode) []string { return n.valueFlags }

func writeBash(w io.Writer, tree []completionNode) error {
	fmt.Fprint(w, `# bash completion for sharesvc; load with: source <(sharesvc completion bash)
`)
	writeCase(w, "_sharesvc_commands", tree, commands, true)
	writeCase(w, "_sharesvc_flags", tree, flags, true)
	writeCase(w, "_sharesvc_value_flags", tree, valueFlags, true)
	_, err := io.WriteString(w, `_sharesvc() {
    local cur="${COMP_WORDS[COMP_CWORD]}" path="" skip="" w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ $w == "=" ]]; then skip=1; continue; fi
        if [[ -n $skip ]]; then skip=""; continue; fi
        case "$w" in
        -*) w="${w#-}"; [[ " $(_sharesvc_value_flags "$path") " == *" --${w#-} "* ]] && skip=1 ;;
        *) [[ " $(_sharesvc_commands "$path") " == *" $w "* ]] && path="${path:+$path }$w" ;;
        esac
    done
    if [[ $cur == "=" ]]; then cur=""; skip=1; fi
    if [[ -n $skip ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
    elif [[ $cur == -* ]]; then
        cur="${cur#-}"
        COMPREPLY=($(compgen -W "$(_sharesvc_flags "$path")" -- "--${cur#-}"))
    else
        local cmds="$(_sharesvc_commands "$path")"
        if [[ -n $cmds ]]; then
            COMPREPLY=($(compgen -W "$cmds" -- "$cur"))
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
    fi
}
complete -o default -F _sharesvc sharesvc
`)
	return err
}

func writeFish(w io.Writer, tree []completionNode) error {
	fmt.Fprint(w, "# fish completion for sharesvc; load with: sharesvc completion fish | source\n")
	writeCase(w, "__sharesvc_commands", tree, commands, false)
	writeCase(w, "__sharesvc_flags", tree, flags, false)
	writeCase(w, "__sharesvc_value_flags", tree, valueFlags, false)
	_, err := io.WriteString(w, `function __sharesvc_complete
    set -l words (commandline -opc)
    set -e words[1]
    set -l path ''
    set -l skip 0
    for w in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $w
            case '-*=*'
            case '-*'
                if contains -- --(string trim -l -c - -- $w) (__sharesvc_value_flags "$path")
                    set skip 1
                end
            case '*'
                if contains -- $w (__sharesvc_commands "$path")
                    set path (string trim -- "$path $w")
                end
        end
    end
    set -l cur (commandline -ct)
    if test $skip = 1
        __fish_complete_path $cur
    else if string match -q -- '-*' $cur
        __sharesvc_flags "$path"
    else
        set -l cmds (__sharesvc_commands "$path")
        if test (count $cmds) -gt 0
            printf '%s\n' $cmds
        else
            __fish_complete_path $cur
        end
    end
end
complete -c sharesvc -f -a '(__sharesvc_complete)'
`)
	return err
}

// fishQuote quotes s for a fish switch case.
func fishQuote(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
