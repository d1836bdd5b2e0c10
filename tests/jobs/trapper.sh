# A job whose worker traps SIGTERM: the leader (this shell, waiting) dies on SIGTERM,
# the worker writes one line to $1 per SIGTERM it receives and carries on.
out=$1
sh -c 'trap "echo TERM >> $0" TERM; echo ready > $0.ready; while true; do sleep 0.05; done' "$out" &
wait
