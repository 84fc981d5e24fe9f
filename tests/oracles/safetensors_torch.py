"""safetensors oracle without the safetensors package (Debian bookworm does not ship python3-safetensors).

An independent reader and writer written from the format description, with PyTorch doing every dtype conversion:
- reads the file Scalpel wrote (args["scalpel_file"]) and returns each tensor widened to float32 as "read.<name>",
  plus "header_ok" checks (8-byte aligned header padded with spaces, contiguous offsets covering the data section);
- returns torch's own roundings of the input "values" ("torch.bf16", "torch.f16");
- writes args["python_file"] the way the reference writer lays it out (dtype size descending, then name; keys sorted;
  header padded with spaces) from "values" stored as F32, BF16 and F16, for Scalpel to read back.
"""
import json
import struct

import torch
from oracle_io import load, save

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
NAMES = {v: k for k, v in DTYPES.items()}

t, args = load()
values = t["values"].to(torch.float32)

with open(args["scalpel_file"], "rb") as f:
    buf = f.read()
(n,) = struct.unpack("<Q", buf[:8])
header = json.loads(buf[8:8 + n].decode("utf-8"))
raw_header = buf[8:8 + n]
data = buf[8 + n:]
checks = [n % 8 == 0, raw_header.rstrip(b" ").endswith(b"}"), len(raw_header) - len(raw_header.rstrip(b" ")) < 8]
out = {}
spans = []
for name, info in header.items():
    if name == "__metadata__":
        checks.append(all(isinstance(k, str) and isinstance(v, str) for k, v in info.items()))
        continue
    begin, end = info["data_offsets"]
    spans.append((begin, end))
    dtype = DTYPES[info["dtype"]]
    count = 1
    for d in info["shape"]:
        count *= d
    checks.append(end - begin == count * torch.tensor([], dtype=dtype).element_size())
    x = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if end > begin else torch.zeros(0, dtype=dtype)
    out["read." + name] = x.reshape(info["shape"]).to(torch.float32)
spans.sort()
position = 0
for begin, end in spans:
    checks.append(begin == position)  # the reference reader insists on contiguous tensors
    position = end
checks.append(position == len(data))
out["header_ok"] = torch.tensor([1.0 if c else 0.0 for c in checks])

out["torch.bf16"] = values.to(torch.bfloat16).to(torch.float32)
out["torch.f16"] = values.to(torch.float16).to(torch.float32)

# Write a file for Scalpel: three dtypes of the same values, plus a 2-D view and an empty tensor.
tensors = {
    "p.f32": values,
    "p.bf16": values.to(torch.bfloat16),
    "p.f16": values.to(torch.float16),
    "p.matrix": values[: (values.numel() // 4) * 4].reshape(4, -1).to(torch.bfloat16),
    "p.empty": torch.zeros(0, 3, dtype=torch.float16),
}
order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))
entries, chunks, offset = {}, [], 0
for name in order:
    x = tensors[name].contiguous()
    raw = x.view(torch.int16).numpy().tobytes() if x.dtype == torch.bfloat16 else x.numpy().tobytes()
    entries[name] = {"dtype": NAMES[x.dtype], "shape": list(x.shape), "data_offsets": [offset, offset + len(raw)]}
    chunks.append(raw)
    offset += len(raw)
meta = {"__metadata__": {"format": "pt", "writer": "oracle"}}
text = json.dumps({**meta, **dict(sorted(entries.items()))}, separators=(",", ":")).encode("utf-8")
text += b" " * ((8 - len(text) % 8) % 8)
with open(args["python_file"], "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for raw in chunks:
        f.write(raw)
for name, x in tensors.items():
    out["wrote." + name] = x.to(torch.float32)

save(out)
