#!/usr/bin/env python3
"""Writes the small seed corpus under corpus/{gguf,llama2c,blocks}: tiny valid
models in each supported layout plus a few broken ones, and rows of each tensor
type for blocks_fuzz. Re-run after changing a format
detail; the files are committed so the replay tests need no Python."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def gstr(x):
    b = x.encode()
    return struct.pack('<Q', len(b)) + b


class Gguf:
    def __init__(self, version=3, align=32):
        self.version, self.align, self.kv, self.nkv, self.tensors = version, align, b'', 0, []

    def key(self, k, t):
        self.kv += gstr(k) + struct.pack('<I', t)
        self.nkv += 1

    def u32(self, k, v): self.key(k, 4); self.kv += struct.pack('<I', v)
    def f32(self, k, v): self.key(k, 6); self.kv += struct.pack('<f', v)
    def boolean(self, k, v): self.key(k, 7); self.kv += struct.pack('<B', v)
    def string(self, k, v): self.key(k, 8); self.kv += gstr(v)

    def array(self, k, et, items, fmt=None):
        self.key(k, 9)
        self.kv += struct.pack('<IQ', et, len(items))
        for it in items:
            self.kv += gstr(it) if et == 8 else struct.pack(fmt, it)

    def tensor(self, name, dims, typ=0):
        n = 1
        for d in dims:
            n *= d
        nbytes = n * 4 if typ == 0 else n * 2 if typ == 1 else n // 32 * 34
        self.tensors.append((name, dims, typ, nbytes))

    def build(self):
        out = b'GGUF' + struct.pack('<IQQ', self.version, len(self.tensors), self.nkv) + self.kv
        off, offs = 0, []
        for name, dims, typ, nbytes in self.tensors:
            out += gstr(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims)
            out += struct.pack('<IQ', typ, off)
            offs.append(off)
            off += (nbytes + self.align - 1) // self.align * self.align
        out += b'\0' * ((-len(out)) % self.align)
        for i, (_, _, _, nbytes) in enumerate(self.tensors):
            body = bytes((i * 7 + j) & 255 for j in range(nbytes))
            if i + 1 < len(self.tensors):
                body += b'\0' * (offs[i + 1] - offs[i] - nbytes)
            out += body
        return out


def gguf_model(dim, hidden, heads, kv_heads, version=3, align=32, mtype=0, tied=True, extra=False):
    g = Gguf(version, align)
    g.string('general.architecture', 'llama')
    g.string('general.name', 'seed')
    if align != 32:
        g.u32('general.alignment', align)
    for k, v in [('embedding_length', dim), ('feed_forward_length', hidden), ('block_count', 1),
                 ('attention.head_count', heads), ('attention.head_count_kv', kv_heads), ('context_length', 16),
                 ('rope.dimension_count', dim // heads)]:
        g.u32('llama.' + k, v)
    g.f32('llama.attention.layer_norm_rms_epsilon', 1e-5)
    g.f32('llama.rope.freq_base', 10000.0)
    g.string('tokenizer.ggml.model', 'llama')
    g.array('tokenizer.ggml.tokens', 8, ['<unk>', '<s>', '</s>', '\u2581a'])
    g.array('tokenizer.ggml.scores', 6, [0, 0, 0, -1.0], '<f')
    g.array('tokenizer.ggml.token_type', 5, [2, 3, 3, 1], '<i')
    g.u32('tokenizer.ggml.bos_token_id', 1)
    g.u32('tokenizer.ggml.eos_token_id', 2)
    g.u32('tokenizer.ggml.unknown_token_id', 0)
    g.boolean('tokenizer.ggml.add_bos_token', 1)
    g.boolean('tokenizer.ggml.add_space_prefix', 1)
    if extra:
        g.key('test.nested', 9)
        g.kv += struct.pack('<IQ', 9, 1) + struct.pack('<IQ', 4, 2) + struct.pack('<II', 1, 2)
        g.key('test.i64', 11); g.kv += struct.pack('<q', -5)
        g.key('test.f64', 12); g.kv += struct.pack('<d', 0.5)
        g.key('test.u16', 2); g.kv += struct.pack('<H', 7)
    q, kv = dim, dim // heads * kv_heads
    g.tensor('token_embd.weight', [dim, 4], mtype)
    g.tensor('output_norm.weight', [dim])
    if not tied:
        g.tensor('output.weight', [dim, 4], mtype)
    p = 'blk.0.'
    g.tensor(p + 'attn_norm.weight', [dim])
    g.tensor(p + 'attn_q.weight', [dim, q], mtype)
    g.tensor(p + 'attn_k.weight', [dim, kv], mtype)
    g.tensor(p + 'attn_v.weight', [dim, kv], mtype)
    g.tensor(p + 'attn_output.weight', [q, dim], mtype)
    g.tensor(p + 'ffn_norm.weight', [dim])
    g.tensor(p + 'ffn_gate.weight', [dim, hidden], mtype)
    g.tensor(p + 'ffn_up.weight', [dim, hidden], mtype)
    g.tensor(p + 'ffn_down.weight', [hidden, dim], mtype)
    return g.build()


def l2c_header(*ints):
    return struct.pack('<7i', *ints)


def l2c_floats(n, mod):
    return b''.join(struct.pack('<f', (i % mod) / mod) for i in range(n))


def legacy(dim, hid, layers, heads, kv_heads, vocab, seq):
    hd = dim // heads
    kvd = hd * kv_heads
    v = abs(vocab)
    n = (v * dim + layers * dim + layers * dim * dim + 2 * layers * kvd * dim + layers * dim * dim + layers * dim +
         3 * layers * hid * dim + dim + seq * hd)
    if vocab < 0:
        n += v * dim
    return l2c_header(dim, hid, layers, heads, kv_heads, vocab, seq) + l2c_floats(n, 97)


def v1(dim, hid, layers, heads, kv_heads, vocab, seq, shared, version=1, body=True):
    head = struct.pack('<Ii', 0x616b3432, version) + l2c_header(dim, hid, layers, heads, kv_heads, vocab, seq)
    head += struct.pack('<B', shared)
    head += b'\0' * (256 - len(head))
    if not body:
        return head
    kvd = dim // heads * kv_heads
    n = (2 * layers * dim + dim + vocab * dim + layers * dim * dim + 2 * layers * kvd * dim + layers * dim * dim +
         3 * layers * hid * dim + (0 if shared else vocab * dim))
    return head + l2c_floats(n, 89)


# blocks_fuzz input: byte 0 indexes this list (kTypes in blocks_fuzz.cc), byte 1
# seeds the activations, then the row. (name, block elems, block bytes, fp16
# scale/min offsets within a block.)
BLOCK_TYPES = [('f32', 1, 4, []), ('f16', 1, 2, []), ('bf16', 1, 2, []), ('q8_0', 32, 34, [0]),
               ('q4_0', 32, 18, [0]), ('q4_1', 32, 20, [0, 2]), ('q5_0', 32, 22, [0]), ('q5_1', 32, 24, [0, 2]),
               ('iq4_nl', 32, 18, [0]), ('q2_k', 256, 84, [80, 82]), ('q3_k', 256, 110, [108]),
               ('q4_k', 256, 144, [0, 2]), ('q5_k', 256, 176, [0, 2]), ('q6_k', 256, 210, [208])]


def blocks_row(index, n_blocks, extra=0, scale=0.01):
    """Row of n_blocks of BLOCK_TYPES[index] with sane values, plus `extra` bytes
    of a truncated block the target must leave alone."""
    name, elems, nbytes, halves = BLOCK_TYPES[index]
    body = bytearray((j * 131 + index * 17) & 255 for j in range(nbytes * n_blocks + extra))
    for b in range(n_blocks):
        for off in halves:
            body[b * nbytes + off:b * nbytes + off + 2] = struct.pack('<e', scale)
        if elems == 1:
            v = ((b % 13) - 6) / 8.0
            body[b * nbytes:(b + 1) * nbytes] = (struct.pack('<f', v) if name == 'f32' else
                                                 struct.pack('<e', v) if name == 'f16' else
                                                 struct.pack('<f', v)[2:])
    return bytes([index, 7]) + bytes(body)


def blocks_seeds():
    files = {}
    for i, (name, elems, _, _) in enumerate(BLOCK_TYPES):
        files[f'blocks/{name}.bin'] = blocks_row(i, 3 if elems == 32 else 2 if elems == 256 else 40, extra=5)
    files['blocks/q6_k_partial_only.bin'] = blocks_row(13, 0, extra=100)
    files['blocks/q4_1_inf_scale.bin'] = blocks_row(5, 2, scale=float('inf'))
    files['blocks/q2_k_large_scale.bin'] = blocks_row(9, 1, scale=65504.0)
    return files


def main():
    files = {
        'gguf/tiny_f32.gguf': gguf_model(16, 16, 2, 1),
        'gguf/tiny_f16_untied_v2.gguf': gguf_model(16, 24, 4, 2, version=2, mtype=1, tied=False),
        'gguf/tiny_q8_0_align64.gguf': gguf_model(32, 32, 4, 2, align=64, mtype=8, extra=True),
        'gguf/bad_version1.gguf': b'GGUF' + struct.pack('<IQQ', 1, 0, 0),
        'gguf/truncated_meta.gguf': gguf_model(16, 16, 2, 1)[:300],
    }
    voc = Gguf()
    voc.string('tokenizer.ggml.model', 'llama')
    voc.array('tokenizer.ggml.tokens', 8, ['<unk>', '<s>', '</s>', '<0x00>', '\u2581the'])
    voc.array('tokenizer.ggml.scores', 6, [0, 0, 0, 0, -2.0], '<f')
    voc.array('tokenizer.ggml.token_type', 5, [2, 3, 3, 6, 1], '<i')
    voc.u32('tokenizer.ggml.bos_token_id', 1)
    files['gguf/vocab_only.gguf'] = voc.build()
    files['llama2c/tiny_legacy.bin'] = legacy(8, 16, 2, 2, 1, 5, 4)
    files['llama2c/tiny_legacy_sep.bin'] = legacy(8, 16, 1, 2, 2, -5, 4)
    files['llama2c/tiny_v1_shared.bin'] = v1(8, 16, 2, 2, 1, 5, 4, 1)
    files['llama2c/tiny_v1_sep.bin'] = v1(8, 16, 1, 4, 2, 6, 8, 0)
    files['llama2c/v1_version2_header.bin'] = v1(8, 16, 1, 2, 1, 5, 4, 1, version=2, body=False)
    files.update(blocks_seeds())
    for name, data in files.items():
        path = os.path.join(HERE, 'corpus', name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
        print(f'{name}: {len(data)} bytes')


if __name__ == '__main__':
    main()
