# The benchmark figures of docs/benchmarks.md, "Frozen models as exported torch graphs":
# the small DreamNet-3 on torch without and with --torch-export (two runs each,
# alternating), SleepNet-3 the same, then jax (cold and warm compilation cache) and
# tensorflow. Run from anywhere on an otherwise idle machine; JSON files go to bench/.
set -eu
cd "$(dirname "$0")/../../.."
mkdir -p bench
DREAM="--model dreamnet --blocks 3 --encoder mae-small-32 --stem imagenet --mask-ratio 0.75 --num-classes 100 --warmup 3 --steps 10 --batch-size 8"
SLEEP="--model sleepnet --blocks 3 --encoder mae-small-32 --stem imagenet --mask-ratio 0.75 --num-classes 100 --warmup 3 --steps 10 --batch-size 8"
for run in 1 2; do
  python apps/benchmark.py $DREAM --backend torch --output bench/torch_eager_$run.json
  python apps/benchmark.py $DREAM --backend torch --torch-export --output bench/torch_export_$run.json
done
python apps/benchmark.py $SLEEP --backend torch --output bench/sleep_torch_eager.json
python apps/benchmark.py $SLEEP --backend torch --torch-export --output bench/sleep_torch_export.json
export JAX_COMPILATION_CACHE_DIR="$(mktemp -d)"
python apps/benchmark.py $DREAM --backend jax --output bench/jax_cold.json
python apps/benchmark.py $DREAM --backend jax --output bench/jax_warm.json
python apps/benchmark.py $DREAM --backend tensorflow --output bench/tf.json
