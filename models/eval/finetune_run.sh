# The lent-GPU run of session 12: fine-tune variants and bring back what the shipped head recipe needs.
# Usage (on the GPU machine, repo root, after python -m models.eval.finetune_pack here and carry [".gpu"]):
#   bash models/eval/finetune_run.sh [--smoke]; the head recipe then runs on the CPU
# machine: python -m models.eval.branch_heads .gpu/pack.npz OUT/*-vectors8.npz
set -u
OUT="${OUT:-/tmp/ftout}"; mkdir -p "$OUT"
PY="${PY:-python3}"
export PYTHONUNBUFFERED=1 FT_VECTORS=1
export FT_BUDGET_S="${FT_BUDGET_S:-330}"
export FT_VARIANTS="${FT_VARIANTS:-branch-lora-12_long:5e-4:8,branch-lora-12_gentle:2e-4:4}"
nvidia-smi -L 2>/dev/null
timeout "${TRAIN_TIMEOUT:-430}" $PY -m models.eval.finetune_gpu .gpu/pack.npz "$OUT" "$@" 2>&1 | tee "$OUT/train.log"
# At most 8 files come back (16 MB each): logs, results, int8 vectors of each variant, LoRA adapters.
find "$OUT" -name "*.npz" ! -name "*-vectors8.npz" ! -name "*-adapters.npz" -delete
ls -la "$OUT"
