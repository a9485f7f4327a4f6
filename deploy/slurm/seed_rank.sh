#!/usr/bin/env bash
# One task of deploy/slurm/seed.sbatch (run by its `srun`): task 0 is the SEED learner,
# tasks 1..N are actors with actor ids 0..N-1 that connect to the first host of the allocation
# (where Slurm's default block distribution puts task 0).
#
# Read from the environment (seed.sbatch exports them; all but the token have defaults):
#   EIRL_SEED_TOKEN          shared secret of learner and actors (required)
#   EIRL_BIN                 the eirl binary (default: `eirl` on PATH)
#   EIRL_SEED_PORT           the learner's gRPC port (default 50051)
#   EIRL_SEED_ENV            environment id (default CartPole-v1)
#   EIRL_SEED_STEPS          total environment steps of the run (default 1000000)
#   EIRL_SEED_OUT            parent folder of run directories (default runs)
#   EIRL_SEED_RUN_SEED       the learner's --seed (default 0)
#   EIRL_SEED_ENVS           environments per actor (default 16)
#   EIRL_SEED_GIVE_UP_AFTER  seconds an actor keeps retrying without a served step (default 300)
set -euo pipefail

: "${SLURM_PROCID:?not set: run this under srun (see seed.sbatch)}"
: "${SLURM_JOB_NODELIST:?not set: run this under srun (see seed.sbatch)}"
: "${EIRL_SEED_TOKEN:?not set: seed.sbatch generates and exports it}"

bin=${EIRL_BIN:-eirl}
port=${EIRL_SEED_PORT:-50051}
env_id=${EIRL_SEED_ENV:-CartPole-v1}
steps=${EIRL_SEED_STEPS:-1000000}
out=${EIRL_SEED_OUT:-runs}
run_seed=${EIRL_SEED_RUN_SEED:-0}
envs=${EIRL_SEED_ENVS:-16}
give_up=${EIRL_SEED_GIVE_UP_AFTER:-300}
export RUST_LOG=${RUST_LOG:-info}

if [ "$SLURM_PROCID" -eq 0 ]; then
    # --resume-latest: a requeued job continues the newest run under $out (same env and seed).
    exec "$bin" seed serve \
        --listen "0.0.0.0:$port" \
        --env "$env_id" \
        --seed "$run_seed" \
        --steps "$steps" \
        --out "$out" \
        --resume-latest
fi

learner=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)
actor_id=$((SLURM_PROCID - 1))
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# stderr goes to the job's log and to $log (stdout stays on fd 3).
{
    "$bin" seed actor \
        --connect "$learner:$port" \
        --env "$env_id" \
        --envs "$envs" \
        --actor-id "$actor_id" \
        --seed "$((actor_id * 1000000))" \
        --give-up-after "$give_up" \
        --exit-when-finished \
        2>&1 1>&3 3>&- | tee "$log" >&2
} 3>&1 || status=$?
# When the learner finishes, the actors connected to it exit 0 (--exit-when-finished). One that
# was reconnecting at that moment gives up after --give-up-after seconds: that is the normal end
# of a run too, not a failure of this task (the learner task's status tells whether the run
# succeeded). Every other exit (a refused token, a wrong env) keeps its status.
if [ "$status" -ne 0 ] && grep -q "no step served by the learner" "$log"; then
    echo "actor $actor_id: the learner at $learner:$port is gone; exiting" >&2
    status=0
fi
exit "$status"
