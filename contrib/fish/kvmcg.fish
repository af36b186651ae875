# fish completion for kvmcg(8), from the same sources as the bash completion
# (contrib/bash-completion/kvmcg), read from the kvmcg being completed:
#   commands            `kvmcg --help` ("Commands:")
#   options             `kvmcg CMD --help` (its synopsis, VMSEL and Options sections)
#   -o/--output columns `kvmcg CMD --help` ("Available output columns:"), LIST,
#                       +LIST and comma lists
#   --name, --pid       `kvmcg list -n -r --no-qmp -o NAME` (or PID): never QMP
#   --iothread          the ids of the VM selected on the line, `kvmcg show -n -r
#                       --no-qmp -o KIND,ID`; for run, -object iothread,id=... after --
#   files               --pidfile, --qmp, --policy and check's FILE... (*.policy),
#                       --policy-dir, --sysroot, --cgroup-root (directories)
#   values              --log-format, --mem-policy, --vcpu-scheduler, numa-balancing

# __kvmcg_run ARGS...: the kvmcg being completed, at most 3 s, stderr and stdin closed.
function __kvmcg_run
    set -l bin (commandline -opc)[1]
    if command -q timeout
        timeout 3 $bin $argv 2>/dev/null </dev/null
    else
        $bin $argv 2>/dev/null </dev/null
    end
end

# libsmartcols' raw output decoded: a space, a backslash... are \xHH there.
function __kvmcg_unraw
    while read -l line
        printf '%b\n' $line
    end
end

function __kvmcg_commands
    __kvmcg_run --help | awk '/^Commands:/ { on = 1; next } /^[^ ]/ { on = 0 }
        on && $1 ~ /^[a-z][a-z-]*$/ { d = $0; sub(/^ *[^ ]+ +/, "", d); print $1 "\t" d }'
end

function __kvmcg_options -a cmd
    __kvmcg_run $cmd --help | awk '
        /^$/ { on = 0; next }
        /^[^ ]/ { on = ($0 ~ /^(Usage|VMSEL|Options)/) }
        !on { next }
        {
            if (match($0, /^ +-[A-Za-z][, ]/)) { s = substr($0, RSTART, RLENGTH); gsub(/[ ,]/, "", s); print s }
            line = $0
            while (match(line, /(^|[^A-Za-z0-9_-])--[a-z][a-z0-9-]*/)) {
                s = substr(line, RSTART, RLENGTH); sub(/^[^-]/, "", s); print s
                line = substr(line, RSTART + RLENGTH)
            }
        }
        END { print "--help" }' | sort -u
end

# The columns, each after what is typed before the last item of a comma list.
function __kvmcg_columns -a cmd
    set -l cur (commandline -ct)
    set -l head (string match -r '^\+?(?:[^,]*,)*' -- $cur)
    __kvmcg_run $cmd --help | awk '
        /^Available output columns:/ { on = 1; next }
        /^[^ ]/ { on = 0 }
        on && match($0, /^ *[A-Z][A-Z0-9-]*  /) { s = substr($0, RSTART, RLENGTH); gsub(/ /, "", s); print s }' |
        string replace -r '^' -- "$head"
end

# The pid of the VM the tokens before the cursor select (--pid, --pidfile, --name,
# --qmp), from kvmcg list's raw output, never from QMP.
function __kvmcg_vm_pid
    set -l t (commandline -opc)
    set -l n (count $t)
    set -l pid
    set -l i 3
    while test $i -le $n
        set -l opt $t[$i]
        set -l val
        set i (math $i + 1)
        switch $opt
            case -- --
                return 1
            case '--pid=*' '--pidfile=*' '--name=*' '--qmp=*'
                set val (string replace -r '^[^=]*=' '' -- $opt)
                set opt (string replace -r '=.*' '' -- $opt)
            case --pid --pidfile --name --qmp
                test $i -le $n; or continue
                set val $t[$i]
                set i (math $i + 1)
            case '*'
                continue
        end
        switch $opt
            case --pid
                set pid $val
            case --pidfile
                set pid (head -n 1 -- $val 2>/dev/null)
            case --name --qmp
                set -l col NAME
                test $opt = --qmp; and set col QMP
                set pid
                for line in (__kvmcg_run list -n -r --no-qmp -o PID,$col)
                    set -l f (string split -m 1 ' ' -- $line)
                    if test (printf '%b' $f[2]) = "$val"
                        set pid $f[1]
                        break
                    end
                end
        end
    end
    string match -qr '^[0-9]+$' -- "$pid"; and echo $pid
end

function __kvmcg_iothreads
    set -l t (commandline -opc)
    if test "$t[2]" = run
        for w in $t
            string match -q '*iothread*' -- $w; or continue
            string match -r -g '(?:^|,)id=([^,]+)' -- $w | string replace -r '$' ':'
        end
        return
    end
    set -l pid (__kvmcg_vm_pid); or return
    for line in (__kvmcg_run show --pid $pid -n -r --no-qmp -o KIND,ID)
        set -l f (string split -m 1 ' ' -- $line)
        test "$f[1]" = iothread; and printf '%b:\n' $f[2]
    end
end

# Directories and *.policy files.
function __kvmcg_policy_files -a cur
    __fish_complete_path $cur | string match -r -- '^[^\t]*(?:/|\.policy)\t.*$'
end

# Everything after the command: what the token before the cursor asks for, else
# the command's options or its arguments.
function __kvmcg_complete
    set -l t (commandline -opc)
    set -l cmd $t[2]
    set -l prev $t[-1]
    set -l cur (commandline -ct)
    if test "$cmd" = run; and contains -- -- $t
        if test "$prev" = --
            __fish_complete_command
        else
            __fish_complete_path $cur
        end
        return
    end
    if string match -q -- '--*=*' $cur
        set prev (string replace -r '=.*' '' -- $cur)
        set -l head (string replace -r '=.*' '=' -- $cur)
        set -l cur (string replace -r '^[^=]*=' '' -- $cur)
        __kvmcg_values $cmd $prev $cur | string replace -r '^' -- $head
        return
    end
    __kvmcg_values $cmd $prev $cur; and return
    if string match -q -- '-*' $cur
        # one VMSEL a command: once one is given, the others are not offered (run's
        # --name and watch's --pidfile are not VMSELs)
        if not contains -- $cmd run watch; and string match -qr -- '^--(pid|pidfile|name|qmp)(=|$)' $t[3..-1]
            __kvmcg_options $cmd | string match -vr -- '^--(pid|pidfile|name|qmp)=?(\t|$)'
        else
            __kvmcg_options $cmd
        end
        return
    end
    switch $cmd
        case check
            __kvmcg_policy_files $cur
        case numa-balancing
            printf '%s\n' on off normal memory-tiering normal+memory-tiering 0 1 2 3
        case help
            test (count $t) -eq 2; and __kvmcg_commands
    end
end

# __kvmcg_values CMD OPTION CUR: the values of OPTION; status 1 when it takes none.
function __kvmcg_values -a cmd opt cur
    switch $opt
        case -o --output
            __kvmcg_columns $cmd
        case --pid
            __kvmcg_run list -n -r --no-qmp -o PID
        case --name
            test "$cmd" = run; and return 0
            __kvmcg_run list -n -r --no-qmp -o NAME | __kvmcg_unraw | sort -u
        case --iothread
            __kvmcg_iothreads
        case --pidfile --qmp
            __fish_complete_path $cur
        case --sysroot --cgroup-root --policy-dir
            __fish_complete_directories $cur
        case --policy
            __kvmcg_policy_files $cur
        case --vcpu-scheduler
            printf '%s\n' other batch idle fifo: rr:
        case --mem-policy
            printf '%s\n' strict restrictive interleave preferred
        case --log-format
            printf '%s\n' text json
        case --qmp-timeout --vcpu --emulator --mems --cpu-weight --cpu-quota --cpu-period --lock-timeout --reconcile-interval
            # numbers and CPU lists: nothing to offer
            return 0
        case '*'
            return 1
    end
    return 0
end

complete -c kvmcg -e
complete -c kvmcg -f
complete -c kvmcg -n 'test (count (commandline -opc)) -eq 1' -a '(__kvmcg_commands)'
complete -c kvmcg -n 'test (count (commandline -opc)) -eq 1' -l help -d 'display this help'
complete -c kvmcg -n 'test (count (commandline -opc)) -eq 1' -s V -l version -d 'display the version'
complete -c kvmcg -n 'test (count (commandline -opc)) -gt 1' -a '(__kvmcg_complete)'
