"""torch/_caching_allocator.py — stands in for PyTorch 2.11's CUDA memory allocators, C++ in the real
torch: c10/cuda/CUDACachingAllocator.cpp (the native caching allocator, expandable segments
included), c10/cuda/CUDAMallocAsyncAllocator.cpp (backend:cudaMallocAsync), the uncached path taken
with PYTORCH_NO_CUDA_MEMORY_CACHING=1, and the allocator configuration (PYTORCH_ALLOC_CONF /
PYTORCH_CUDA_ALLOC_CONF, read once, at `import torch`). Every CUDA call goes through libc10_cuda.so
(torch/_c10_cuda.py).

Followed from the real allocator, so that the same requests give the same segments, splits,
statistics, history entries and messages: sizes rounded up to 512 bytes; requests up to 1 MiB from
2 MiB segments of the small pool; requests of 1 to 10 MiB from 20 MiB segments, larger ones from
segments of the request rounded up to 2 MiB (large pool); best fit by (stream, size, address); a
small block is split when at least 512 bytes remain, a large one when more than 1 MiB remains;
neighbours merged at free; when cudaMalloc fails, every wholly free segment is cudaFree'd
(release_cached_blocks, as empty_cache does) and the cudaMalloc retried once; then the OOM entry,
the observers (device, alloc_size, device_total, device_free) outside the allocator's lock, and
torch.OutOfMemoryError. Expandable segments reserve 1 1/8 of the device's memory of address space
per pool and stream and map 2 MiB (small) or 20 MiB (large) pages into it as needed.

Left out: streams other than the default one and cross-stream events, CUDA graphs and private
pools, max_split_size_mb / roundup_power2_divisions / garbage_collection_threshold (parsed keys are
only `backend` and `expandable_segments`, others are ignored), memory fractions, C++ frames
(stacks="all" records the Python frames only), compile contexts, annotations. In memory_stats,
inactive_split(_bytes) has its current value only.
"""
import bisect
import collections
import os
import sys
import threading
import time

from torch import _c10_cuda as c10

# Frames of the files that stand in for C++ are left out of recorded stacks (the real torch's
# C++ frames are not Python frames). torch/nn, torch/optim and torch/cuda stand in for Python code
# and stay.
native_files = set()


def register_native_file(path):
    """Leaves the frames of the file at `path` (a module's __file__, which its code objects name) out."""
    native_files.update((path, os.path.abspath(path)))


register_native_file(__file__)
register_native_file(c10.__file__)


kMinBlockSize = 512  # all sizes are rounded to at least 512 bytes
kSmallSize = 1 << 20  # largest "small" allocation is 1 MiB
kSmallBuffer = 2 << 20  # "small" allocations are packed in 2 MiB blocks
kLargeBuffer = 20 << 20  # "large" allocations may be packed in 20 MiB blocks
kMinLargeAlloc = 10 << 20  # allocations between 1 and 10 MiB may use kLargeBuffer
kRoundLarge = 2 << 20  # round up large allocations to 2 MiB
SIZE_MAX = (1 << 64) - 1

# RecordContext of the real allocator: how much gets frames.
NEVER, STATE, ALLOC, ALL = range(4)


class OutOfMemoryError(RuntimeError):
    """torch.OutOfMemoryError (= torch.cuda.OutOfMemoryError = torch._C.OutOfMemoryError)."""


class AcceleratorError(RuntimeError):
    """torch.AcceleratorError: a CUDA call failed with an error other than an allocator OOM."""


for _error in (OutOfMemoryError, AcceleratorError):
    _error.__module__ = "torch"


def cuda_error(code):
    """The exception C10_CUDA_CHECK raises for a failed runtime call."""
    return AcceleratorError(
        f"CUDA error: {c10.error_string(code)}\n"
        "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace "
        "below might be incorrect.\nFor debugging consider passing CUDA_LAUNCH_BLOCKING=1\n"
        "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.\n")


def driver_error(code):
    return AcceleratorError(f"CUDA driver error: {code}")


def format_size(size):
    """c10's format_size: bytes, KiB, MiB or GiB with two decimals."""
    if size <= 1024:
        return f"{size} bytes"
    if size <= 1048576:
        return f"{size / 1024.0:.2f} KiB"
    if size <= 1073741824:
        return f"{size / 1048576.0:.2f} MiB"
    return f"{size / 1073741824.0:.2f} GiB"


def round_size(size):
    if size < kMinBlockSize:
        return kMinBlockSize
    return kMinBlockSize * ((size + kMinBlockSize - 1) // kMinBlockSize)


def get_allocation_size(size):
    if size <= kSmallSize:
        return kSmallBuffer
    if size < kMinLargeAlloc:
        return kLargeBuffer
    return kRoundLarge * ((size + kRoundLarge - 1) // kRoundLarge)


# ---- configuration -------------------------------------------------------------------------

class AllocatorConfig:
    def __init__(self, text):
        self.text = text
        self.backend = "native"
        self.expandable_segments = False
        for item in text.split(","):
            key, _, value = (part.strip() for part in item.partition(":"))
            if key == "backend":
                if value not in ("native", "cudaMallocAsync"):
                    raise RuntimeError("Unknown allocator backend, options are native and cudaMallocAsync")
                self.backend = value
            elif key == "expandable_segments":
                if value not in ("True", "False"):
                    raise RuntimeError("Expected a single True/False argument for expandable_segments")
                self.expandable_segments = value == "True"

    @classmethod
    def from_environment(cls):
        text = os.environ.get("PYTORCH_ALLOC_CONF")
        if text is None:
            text = os.environ.get("PYTORCH_CUDA_ALLOC_CONF", "")
        return cls(text)


def _check_env(name):
    """c10::utils::check_env: True for 1/true/on/yes, False for 0/false/off/no, None when unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "on", "yes", "y")


config = AllocatorConfig.from_environment()
force_uncached = bool(_check_env("PYTORCH_NO_CUDA_MEMORY_CACHING"))


# ---- frames --------------------------------------------------------------------------------

def capture_frames():
    """The Python stack, innermost first, as snapshot frames {name, filename, line}."""
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_filename not in native_files:
            frames.append({"name": code.co_name, "filename": code.co_filename, "line": frame.f_lineno or 0})
        frame = frame.f_back
    return frames


# ---- statistics ----------------------------------------------------------------------------

class Stat:
    __slots__ = ("current", "peak", "allocated", "freed")

    def __init__(self):
        self.current = self.peak = self.allocated = self.freed = 0

    def increase(self, amount):
        self.current += amount
        self.peak = max(self.peak, self.current)
        self.allocated += amount

    def decrease(self, amount):
        self.current -= amount
        self.freed += amount

    def as_dict(self):
        return {"current": self.current, "peak": self.peak, "allocated": self.allocated, "freed": self.freed}


STAT_ARRAYS = ("allocation", "segment", "active", "allocated_bytes", "reserved_bytes", "active_bytes",
               "requested_bytes")


class DeviceStats:
    def __init__(self):
        self.arrays = {name: {"all": Stat(), "small_pool": Stat(), "large_pool": Stat()} for name in STAT_ARRAYS}
        self.num_alloc_retries = self.num_ooms = self.num_device_alloc = self.num_device_free = 0

    def change(self, name, pool, amount):
        """Adds `amount` (may be negative) to the aggregate and to the pool's stat."""
        for stat in (self.arrays[name]["all"], self.arrays[name]["small_pool" if pool.is_small else "large_pool"]):
            if amount >= 0:
                stat.increase(amount)
            else:
                stat.decrease(-amount)


# ---- blocks and pools ----------------------------------------------------------------------

class Block:
    __slots__ = ("device", "stream", "size", "requested_size", "pool", "ptr", "allocated", "mapped", "prev",
                 "next", "frames", "segment_frames", "expandable")

    def __init__(self, device, stream, size, pool, ptr):
        self.device, self.stream, self.size, self.pool, self.ptr = device, stream, size, pool, ptr
        self.requested_size = 0
        self.allocated = False
        self.mapped = True
        self.prev = self.next = None
        self.frames = None  # context_when_allocated
        self.segment_frames = None  # context_when_segment_allocated (head block only)
        self.expandable = None  # its ExpandableSegment, if any

    def is_split(self):
        return self.prev is not None or self.next is not None


class SortedBlocks:
    """A std::set<Block*> with a comparator: blocks kept sorted by key(block)."""

    def __init__(self, key):
        self._key, self._keys, self._blocks = key, [], []

    def add(self, block):
        key = self._key(block)
        index = bisect.bisect_left(self._keys, key)
        self._keys.insert(index, key)
        self._blocks.insert(index, block)

    def remove(self, block):
        index = bisect.bisect_left(self._keys, self._key(block))
        assert self._blocks[index] is block, "block not in pool"
        del self._keys[index], self._blocks[index]

    def from_key(self, key):
        """The blocks from the first whose key is >= key (lower_bound), in order."""
        return self._blocks[bisect.bisect_left(self._keys, key):]

    def __iter__(self):
        return iter(list(self._blocks))

    def __len__(self):
        return len(self._blocks)


class BlockPool:
    def __init__(self, is_small):
        self.is_small = is_small
        self.blocks = SortedBlocks(lambda b: (b.stream, b.size, b.ptr))  # free, mapped
        self.unmapped = SortedBlocks(lambda b: (b.stream, b.ptr))  # expandable address space not backed


class ExpandableSegment:
    """Address space for 1 1/8 of the device's memory, backed page by page (cuMemCreate + cuMemMap)."""

    def __init__(self, device, stream, segment_size, device_total):
        self.device, self.stream, self.segment_size = device, stream, segment_size
        total = device_total + device_total // 8
        self.max_handles = (total + segment_size - 1) // segment_size
        self.handles = []  # per page: a physical handle, or None
        error, self.ptr = c10.vmm_reserve(self.size())
        if error:
            raise driver_error(error)

    def size(self):
        return self.segment_size * self.max_handles

    def map(self, ptr, size):
        """Backs [ptr, ptr + size) rounded out to whole pages; returns the range mapped, (ptr, 0) if
        the device is out of memory."""
        begin = (ptr - self.ptr) // self.segment_size
        end = -(-(ptr + size - self.ptr) // self.segment_size)
        if begin == end:
            return ptr, 0
        self.handles.extend([None] * (end - len(self.handles)))
        error, handles = c10.vmm_map(self.device, self.ptr + begin * self.segment_size, self.segment_size,
                                     end - begin)
        if error == c10.OUT_OF_MEMORY:
            self._trim()
            return ptr, 0
        if error:
            raise driver_error(error)
        self.handles[begin:end] = handles
        return self.ptr + begin * self.segment_size, (end - begin) * self.segment_size

    def unmap(self, ptr, size):
        """Returns the whole pages inside [ptr, ptr + size) to the driver; returns the range unmapped."""
        begin = -(-(ptr - self.ptr) // self.segment_size)
        end = (ptr + size - self.ptr) // self.segment_size
        if begin >= end:
            return ptr, 0
        error = c10.vmm_unmap(self.device, self.ptr + begin * self.segment_size, self.segment_size,
                              self.handles[begin:end])
        if error:
            raise driver_error(error)
        self.handles[begin:end] = [None] * (end - begin)
        self._trim()
        return self.ptr + begin * self.segment_size, (end - begin) * self.segment_size

    def _trim(self):
        while self.handles and self.handles[-1] is None:
            self.handles.pop()

    def release(self):
        mapped = [i for i, handle in enumerate(self.handles) if handle is not None]
        for page in mapped:
            self.unmap(self.ptr + page * self.segment_size, self.segment_size)
        error = c10.vmm_address_free(self.ptr, self.size())
        if error:
            raise driver_error(error)


class _OutOfMemory:
    """What the OOM path needs once the allocator's lock is released."""

    def __init__(self, device, alloc_size, device_total, device_free, message):
        self.device, self.alloc_size = device, alloc_size
        self.device_total, self.device_free = device_total, device_free
        self.message = message


# ---- the native caching allocator, one per device ------------------------------------------

class DeviceCachingAllocator:
    def __init__(self, device):
        self.device = device
        self.small_blocks = BlockPool(True)
        self.large_blocks = BlockPool(False)
        self.active_blocks = set()
        self.expandable_segments = []
        self.device_total = None  # asked of CUDA at the first expandable segment
        self.allowed_memory_maximum = None  # set_per_process_memory_fraction
        self.stats = DeviceStats()
        self.record_history = False
        self.record_context = NEVER
        self.skip_actions = frozenset()
        self.ring = collections.deque(maxlen=1)
        self._lock = threading.RLock()
        self._depth = 0
        self._owner = None
        self._pending_frees = []  # frees that arrived (from the garbage collector) during an operation

    # -- locking: a free that Python's garbage collector runs in the middle of an operation waits
    #    until that operation ends, so the pools never change under it.

    def _enter(self):
        self._lock.acquire()
        self._depth += 1
        self._owner = threading.get_ident()

    def _leave(self):
        try:
            while self._depth == 1 and self._pending_frees:
                block, frames = self._pending_frees.pop(0)
                self._free_locked(block, frames)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
            self._lock.release()

    def _busy_here(self):
        return self._depth > 0 and self._owner == threading.get_ident()

    # -- history

    def gather(self, level):
        return capture_frames() if self.record_context >= level else None

    def set_history(self, enabled, max_entries, when, clear_history, skip_actions):
        self._enter()
        try:
            self.record_history = enabled
            self.record_context = when if enabled else NEVER
            self.ring = collections.deque(self.ring, maxlen=max(1, max_entries))
            if not enabled or clear_history:
                self.ring.clear()
            self.skip_actions = frozenset(skip_actions)
        finally:
            self._leave()

    def record_trace(self, action, addr, size, stream, frames):
        if not self.record_history or action in self.skip_actions:
            return
        kept = frames if self.record_context >= ALLOC else None
        self.ring.append((action, addr, size, stream, kept, time.time_ns() // 1000))

    def trace(self):
        entries = []
        for action, addr, size, stream, frames, time_us in self.ring:
            entry = {"action": action, ("device_free" if action == "oom" else "addr"): addr, "size": size,
                     "stream": stream, "compile_context": "N/A", "user_metadata": "", "time_us": time_us}
            if frames is not None:
                entry["frames"] = list(frames)
            entries.append(entry)
        return entries

    # -- malloc

    def malloc(self, orig_size):
        frames = self.gather(STATE)
        self._enter()
        try:
            result = self._malloc_locked(orig_size, frames)
        finally:
            self._leave()
        if isinstance(result, Block):
            return result
        # Out of memory: observers run without the allocator's lock (they may take a snapshot).
        for observer in list(oom_observers):
            observer(result.device, result.alloc_size, result.device_total, result.device_free)
        raise OutOfMemoryError(result.message)

    def _pool(self, size):
        return self.small_blocks if size <= kSmallSize else self.large_blocks

    def _malloc_locked(self, orig_size, frames):
        size = round_size(orig_size)
        pool = self._pool(size)
        alloc_size = get_allocation_size(size)
        stream = 0
        block = self._get_free_block(pool, stream, size)
        if block is None:
            block = self._alloc_block(pool, stream, size, alloc_size, False, frames)
            # release_available_cached_blocks does nothing without max_split_size_mb
            if block is None:
                self._release_cached_blocks(frames)
                block = self._alloc_block(pool, stream, size, alloc_size, True, frames)
        if block is None:
            return self._out_of_memory(size, alloc_size, stream, frames)
        return self._alloc_found_block(block, size, orig_size, frames, self._should_split(block, size))

    def _get_free_block(self, pool, stream, size):
        candidates = pool.blocks.from_key((stream, size, 0))
        if not candidates or candidates[0].stream != stream:
            return None
        block = candidates[0]
        pool.blocks.remove(block)
        return block

    def _should_split(self, block, size):
        remaining = block.size - size
        if block.pool.is_small or config.expandable_segments:
            return remaining >= kMinBlockSize
        return remaining > kSmallSize

    def _alloc_block(self, pool, stream, size, alloc_size, is_retry, frames):
        if is_retry:
            self.stats.num_alloc_retries += 1
        if config.expandable_segments:
            return self._try_allocate_expandable_block(pool, stream, size, frames)
        reserved = self.stats.arrays["reserved_bytes"]["all"].current
        if self.allowed_memory_maximum is not None and reserved + alloc_size > self.allowed_memory_maximum:
            return None  # past the memory fraction: refused with no CUDA call, as the real allocator
        error, ptr = c10.malloc(self.device, alloc_size)
        if error == c10.OUT_OF_MEMORY:
            return None
        if error:
            raise cuda_error(error)
        block = Block(self.device, stream, alloc_size, pool, ptr)
        self.stats.change("segment", pool, 1)
        self.stats.change("reserved_bytes", pool, alloc_size)
        self.stats.num_device_alloc += 1
        self.record_trace("segment_alloc", ptr, alloc_size, stream, frames)
        block.segment_frames = frames
        return block

    def _alloc_found_block(self, block, size, orig_size, frames, split_remainder):
        pool = block.pool
        if split_remainder:
            remaining = block
            block = Block(self.device, remaining.stream, size, pool, remaining.ptr)
            block.expandable = remaining.expandable
            block.prev = remaining.prev
            if block.prev is not None:
                block.prev.next = block
            block.next = remaining
            remaining.prev = block
            remaining.ptr += size
            remaining.size -= size
            pool.blocks.add(remaining)
        block.allocated = True
        block.requested_size = orig_size
        block.frames = frames
        self.record_trace("alloc", block.ptr, orig_size, block.stream, frames)
        self.active_blocks.add(block)
        self.stats.change("allocation", pool, 1)
        self.stats.change("allocated_bytes", pool, block.size)
        self.stats.change("active", pool, 1)
        self.stats.change("active_bytes", pool, block.size)
        self.stats.change("requested_bytes", pool, orig_size)
        return block

    def set_memory_fraction(self, fraction):
        """setMemoryFraction: reserved memory may not grow past fraction x the device's total."""
        device_free, device_total, error = c10.mem_get_info(self.device)
        if error:
            raise cuda_error(error)
        self.allowed_memory_maximum = int(fraction * device_total)

    def _out_of_memory(self, size, alloc_size, stream, frames):
        device_free, device_total, error = c10.mem_get_info(self.device)
        if error:
            raise cuda_error(error)
        self.record_trace("oom", device_free, size, stream, frames)
        self.stats.num_ooms += 1
        allocated = self.stats.arrays["allocated_bytes"]["all"].current
        reserved = self.stats.arrays["reserved_bytes"]["all"].current
        message = (f"CUDA out of memory. Tried to allocate {format_size(alloc_size)}. GPU {self.device} has a total "
                   f"capacity of {format_size(device_total)} of which {format_size(device_free)} is free. "
                   f"Of the allocated memory {format_size(allocated)} is allocated by PyTorch, and "
                   f"{format_size(reserved - allocated)} is reserved by PyTorch but unallocated. If reserved but "
                   "unallocated memory is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to "
                   "avoid fragmentation.  See documentation for Memory Management  "
                   "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
        return _OutOfMemory(self.device, alloc_size, device_total, device_free, message)

    # -- free

    def free(self, block):
        frames = self.gather(ALL)
        if self._busy_here():
            self._pending_frees.append((block, frames))
            return
        self._enter()
        try:
            self._free_locked(block, frames)
        finally:
            self._leave()

    def _free_locked(self, block, frames):
        block.allocated = False
        self.stats.change("allocation", block.pool, -1)
        self.stats.change("allocated_bytes", block.pool, -block.size)
        context = frames if frames is not None else block.frames
        self.record_trace("free_requested", block.ptr, block.requested_size, block.stream, context)
        self._free_block(block, context)

    def _free_block(self, block, context):
        self.record_trace("free_completed", block.ptr, block.requested_size, block.stream, context)
        block.frames = None
        original_size, requested_size, pool = block.size, block.requested_size, block.pool
        for candidate in (block.prev, block.next):
            self._try_merge_blocks(block, candidate, pool)
        self.active_blocks.discard(block)
        pool.blocks.add(block)
        self.stats.change("active", pool, -1)
        self.stats.change("active_bytes", pool, -original_size)
        self.stats.change("requested_bytes", pool, -requested_size)

    def _try_merge_blocks(self, dst, src, pool):
        """Merges free `src` into `dst` (its neighbour); returns the bytes taken over."""
        if src is None or src.allocated or dst.mapped != src.mapped:
            return 0
        (pool.blocks if src.mapped else pool.unmapped).remove(src)
        if dst.prev is src:  # [src dst]
            dst.ptr = src.ptr
            dst.prev = src.prev
            if dst.prev is not None:
                dst.prev.next = dst
            dst.segment_frames = src.segment_frames
        else:  # [dst src]
            dst.next = src.next
            if dst.next is not None:
                dst.next.prev = dst
        dst.size += src.size
        return src.size

    # -- releasing cached memory (empty_cache, and before the retry of a failed cudaMalloc)

    def empty_cache(self):
        frames = self.gather(ALL)
        self._enter()
        try:
            self._release_cached_blocks(frames)
        finally:
            self._leave()

    def _release_cached_blocks(self, frames):
        for pool in (self.large_blocks, self.small_blocks):
            to_unmap = []
            for block in pool.blocks:
                if block.expandable is not None:
                    to_unmap.append(block)
                elif not block.is_split():
                    self._release_block(block, frames)
            for block in to_unmap:
                self._unmap_block(block, frames)
                if not block.is_split():
                    self._release_expandable_segment(block)
        return True

    def _release_block(self, block, frames):
        self.stats.num_device_free += 1
        self.record_trace("segment_free", block.ptr, block.size, block.stream,
                          frames if frames is not None else block.segment_frames)
        error = c10.free(self.device, block.ptr)
        if error:
            raise cuda_error(error)
        self.stats.change("segment", block.pool, -1)
        self.stats.change("reserved_bytes", block.pool, -block.size)
        block.pool.blocks.remove(block)

    # -- expandable segments

    def _try_allocate_expandable_block(self, pool, stream, size, frames):
        candidate = self._find_expandable_block(pool, stream, size)
        if not candidate.mapped and not self._map_block(candidate, min(candidate.size, size), frames):
            return None
        while candidate.size < size:
            remaining = size - candidate.size
            following = candidate.next
            if not self._map_block(following, min(remaining, following.size), frames):
                return None
            candidate = following  # map_block merged the free block before it into it
        pool.blocks.remove(candidate)
        return candidate

    def _find_expandable_block(self, pool, stream, size):
        def allocatable(block):
            return block is not None and not block.allocated

        def has_room(block):
            total = 0
            while total < size and allocatable(block):
                total += block.size
                block = block.next
            return total >= size

        for candidate in pool.unmapped.from_key((stream, 0)):
            if candidate.stream != stream:
                break
            if allocatable(candidate.prev):
                candidate = candidate.prev
            if has_room(candidate):
                return candidate
        if self.device_total is None:
            _, self.device_total, error = c10.mem_get_info(self.device)
            if error:
                raise cuda_error(error)
        segment = ExpandableSegment(self.device, stream, kSmallBuffer if pool.is_small else kLargeBuffer,
                                    self.device_total)
        self.expandable_segments.append(segment)
        candidate = Block(self.device, stream, segment.size(), pool, segment.ptr)
        candidate.mapped = False
        candidate.expandable = segment
        pool.unmapped.add(candidate)
        return candidate

    def _map_block(self, to_map, size, frames):
        mapped_ptr, mapped_size = to_map.expandable.map(to_map.ptr, size)
        if mapped_size == 0:
            return False
        pool = to_map.pool
        pool.unmapped.remove(to_map)
        to_map.mapped = True
        if mapped_size < to_map.size:
            remaining = Block(to_map.device, to_map.stream, to_map.size - mapped_size, pool, to_map.ptr + mapped_size)
            remaining.mapped = False
            remaining.expandable = to_map.expandable
            remaining.prev, remaining.next = to_map, to_map.next
            if to_map.next is not None:
                to_map.next.prev = remaining
            to_map.next = remaining
            pool.unmapped.add(remaining)
            to_map.size = mapped_size
        self._try_merge_blocks(to_map, to_map.prev, pool)
        self._try_merge_blocks(to_map, to_map.next, pool)
        pool.blocks.add(to_map)
        self.stats.change("reserved_bytes", pool, mapped_size)
        self.stats.num_device_alloc += 1
        self.record_trace("segment_map", mapped_ptr, mapped_size, to_map.stream, frames)
        if to_map.prev is None and to_map.segment_frames is None:
            to_map.segment_frames = frames
        return True

    def _unmap_block(self, block, frames):
        unmapped_ptr, unmapped_size = block.expandable.unmap(block.ptr, block.size)
        if unmapped_size == 0:
            return
        pool = block.pool
        pool.blocks.remove(block)
        before_size = unmapped_ptr - block.ptr
        if before_size > 0:  # prev? -> before_free -> block
            before = Block(block.device, block.stream, before_size, pool, block.ptr)
            before.expandable = block.expandable
            before.prev, before.next = block.prev, block
            if block.prev is not None:
                block.prev.next = before
            block.prev = before
            pool.blocks.add(before)
        after_size = block.size - (before_size + unmapped_size)
        if after_size > 0:  # block -> after_free -> next?
            after = Block(block.device, block.stream, after_size, pool, unmapped_ptr + unmapped_size)
            after.expandable = block.expandable
            after.prev, after.next = block, block.next
            if block.next is not None:
                block.next.prev = after
            block.next = after
            pool.blocks.add(after)
        block.ptr, block.size, block.mapped = unmapped_ptr, unmapped_size, False
        self._try_merge_blocks(block, block.prev, pool)
        self._try_merge_blocks(block, block.next, pool)
        pool.unmapped.add(block)
        self.stats.change("reserved_bytes", pool, -unmapped_size)
        self.stats.num_device_free += 1
        self.record_trace("segment_unmap", unmapped_ptr, unmapped_size, block.stream,
                          frames if frames is not None else block.segment_frames)

    def _release_expandable_segment(self, block):
        block.pool.unmapped.remove(block)
        self.expandable_segments.remove(block.expandable)
        block.expandable.release()

    # -- snapshot and statistics

    def snapshot(self):
        """This device's segments (one per contiguous mapped range), as _snapshot() lists them."""
        self._enter()
        try:
            segments, total_active = [], 0
            heads = list(self.small_blocks.blocks) + list(self.large_blocks.blocks) + list(self.active_blocks)
            for head in heads:
                if head.prev is not None and head.prev.mapped:
                    continue
                segment = {"device": self.device, "address": head.ptr, "total_size": 0, "allocated_size": 0,
                           "active_size": 0, "requested_size": 0, "stream": head.stream,
                           "segment_type": "small" if head.pool.is_small else "large", "segment_pool_id": (0, 0),
                           "is_expandable": head.expandable is not None, "frames": list(head.segment_frames or []),
                           "blocks": []}
                block = head
                while block is not None and block.mapped:
                    segment["blocks"].append({
                        "address": block.ptr, "size": block.size, "requested_size": block.requested_size,
                        "state": "active_allocated" if block.allocated else "inactive",
                        "frames": list(block.frames or [])})
                    segment["total_size"] += block.size
                    if block.allocated:
                        segment["allocated_size"] += block.size
                        segment["active_size"] += block.size
                        segment["requested_size"] += block.requested_size
                    block = block.next
                total_active += segment["active_size"]
                segments.append(segment)
            segments.sort(key=lambda s: s["address"])
            self.record_trace("snapshot", 0, total_active, 0, None)
            return segments
        finally:
            self._leave()

    def memory_stats(self):
        self._enter()
        try:
            result = {"num_alloc_retries": self.stats.num_alloc_retries, "num_ooms": self.stats.num_ooms,
                      "max_split_size": -1, "num_sync_all_streams": 0,
                      "num_device_alloc": self.stats.num_device_alloc, "num_device_free": self.stats.num_device_free}
            for name, array in self.stats.arrays.items():
                result[name] = {pool: stat.as_dict() for pool, stat in array.items()}
            split = {"all": [0, 0], "small_pool": [0, 0], "large_pool": [0, 0]}
            for pool in (self.small_blocks, self.large_blocks):
                for block in pool.blocks:
                    if block.is_split() and block.expandable is None:
                        for key in ("all", "small_pool" if pool.is_small else "large_pool"):
                            split[key][0] += 1
                            split[key][1] += block.size
            for index, name in enumerate(("inactive_split", "inactive_split_bytes")):
                result[name] = {key: {"current": counts[index], "peak": 0, "allocated": 0, "freed": 0}
                                for key, counts in split.items()}
            zero = {"current": 0, "peak": 0, "allocated": 0, "freed": 0}
            result["oversize_allocations"] = dict(zero)
            result["oversize_segments"] = dict(zero)
            return result
        finally:
            self._leave()

    def reset_peak_stats(self):
        for array in self.stats.arrays.values():
            for stat in array.values():
                stat.peak = stat.current


# ---- backend:cudaMallocAsync, and the uncached mode ------------------------------------------

class DirectAllocation:
    __slots__ = ("device", "ptr", "size")

    def __init__(self, device, ptr, size):
        self.device, self.ptr, self.size = device, ptr, size


class AsyncAllocator:
    """One cudaMallocAsync per tensor, one cudaFreeAsync when it dies; no cache, no history."""

    def __init__(self, device_count):
        self.used = [0] * device_count
        self.peak = [0] * device_count
        self.lock = threading.Lock()

    def malloc(self, device, size):
        error, ptr = c10.malloc(device, size, asynchronous=True)
        if error == c10.OUT_OF_MEMORY:
            device_free, device_total, _ = c10.mem_get_info(device)
            raise OutOfMemoryError(
                f"Allocation on device {device} would exceed allowed memory. (out of memory)"
                f"\nCurrently allocated     : {format_size(self.used[device])}"
                f"\nRequested               : {format_size(size)}"
                f"\nDevice limit            : {format_size(device_total)}"
                f"\nFree (according to CUDA): {format_size(device_free)}"
                f"\nPyTorch limit (set by user-supplied memory fraction)"
                f"\n                        : {format_size(SIZE_MAX)}")
        if error:
            raise cuda_error(error)
        with self.lock:
            self.used[device] += size
            self.peak[device] = max(self.peak[device], self.used[device])
        return DirectAllocation(device, ptr, size)

    def free(self, allocation):
        with self.lock:
            self.used[allocation.device] -= allocation.size
        error = c10.free(allocation.device, allocation.ptr, asynchronous=True)
        if error:
            raise cuda_error(error)


class UncachedAllocator:
    """PYTORCH_NO_CUDA_MEMORY_CACHING=1: a cudaMalloc per tensor, cudaFree when it dies (C10_CUDA_CHECK on
    both: an out-of-memory is a torch.AcceleratorError here, with no observers)."""

    def malloc(self, device, size):
        error, ptr = c10.malloc(device, size)
        if error:
            raise cuda_error(error)
        return DirectAllocation(device, ptr, size)

    def free(self, allocation):
        error = c10.free(allocation.device, allocation.ptr)
        if error:
            raise cuda_error(error)


# ---- the process's allocator (c10::cuda::CUDACachingAllocator::get()) -------------------------

oom_observers = []
_init_lock = threading.Lock()
_device_count = None
devices = None  # the native allocators, one per device, once initialised
async_allocator = None
uncached_allocator = None


def backend_name():
    return config.backend


def device_count():
    """c10::cuda::device_count(): asked of CUDA once, then remembered; 0 without a driver."""
    global _device_count
    if _device_count is None:
        _device_count = c10.device_count()[0] if c10.lib is not None else 0
    return _device_count


def is_initialized():
    return devices is not None or async_allocator is not None


def lazy_init_device():
    """at::globalContext().lazyInitDevice(CUDA) (CUDAHooks::init): devices counted, allocators created.
    No context, no allocation; Python's torch.cuda.is_initialized() is not changed."""
    global devices, async_allocator, uncached_allocator
    with _init_lock:
        if is_initialized():
            return
        if c10.lib is None:
            raise RuntimeError("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU "
                               "and installed a driver from http://www.nvidia.com/Download/index.aspx")
        count, error = c10.device_count()
        if count == 0:
            raise RuntimeError("No CUDA GPUs are available")
        if config.backend == "cudaMallocAsync":
            async_allocator = AsyncAllocator(count)
        else:
            uncached_allocator = UncachedAllocator()
            devices = [DeviceCachingAllocator(index) for index in range(count)]


def set_memory_fraction(fraction, device):
    lazy_init_device()
    _check_device(device)
    if devices is not None:
        devices[device].set_memory_fraction(fraction)


def _check_device(device):
    total = len(devices) if devices is not None else len(async_allocator.used)
    if not 0 <= device < total:
        raise cuda_error(101)  # cudaErrorInvalidDevice


def malloc(nbytes, device):
    """Memory for a tensor of `nbytes` on `device`: a handle for free(), with .ptr; None for 0 bytes."""
    lazy_init_device()
    _check_device(device)
    if nbytes == 0:
        return None
    if async_allocator is not None:
        return async_allocator.malloc(device, nbytes)
    if force_uncached:
        return uncached_allocator.malloc(device, nbytes)
    return devices[device].malloc(nbytes)


def free(handle):
    if isinstance(handle, Block):
        devices[handle.device].free(handle)
    elif async_allocator is not None:
        async_allocator.free(handle)
    else:
        uncached_allocator.free(handle)


def empty_cache():
    if async_allocator is not None:
        for device, used in enumerate(async_allocator.used):
            c10.lib.c10_cuda_synchronize(device)
    elif devices is not None:
        for allocator in devices:
            allocator.empty_cache()


def memory_stats(device):
    lazy_init_device()
    _check_device(device)
    if async_allocator is not None:
        stats = {name: {pool: {"current": 0, "peak": 0, "allocated": 0, "freed": 0}
                        for pool in ("all", "small_pool", "large_pool")} for name in STAT_ARRAYS}
        for name in ("allocated_bytes", "active_bytes", "reserved_bytes"):
            stats[name]["all"]["current"] = async_allocator.used[device]
            stats[name]["all"]["peak"] = async_allocator.peak[device]
        return stats
    return devices[device].memory_stats()


def reset_peak_stats(device):
    lazy_init_device()
    _check_device(device)
    if async_allocator is not None:
        async_allocator.peak[device] = async_allocator.used[device]
    else:
        devices[device].reset_peak_stats()


def record_history(enabled, max_entries, when, clear_history, skip_actions):
    if async_allocator is not None:
        raise RuntimeError("cudaMallocAsync does not yet support recordHistory. "
                           "If you need it, please file an issue describing your use case.")
    for allocator in devices:
        allocator.set_history(enabled, max_entries, when, clear_history, skip_actions)


def is_history_enabled():
    return devices is not None and any(allocator.record_history for allocator in devices)


def attach_out_of_memory_observer(observer):
    if async_allocator is not None:
        raise RuntimeError("cudaMallocAsync does not yet support attachOutOfMemoryObserver. "
                           "If you need it, please file an issue describing your use case.")
    oom_observers.append(observer)


def snapshot():
    """The allocator's state as _snapshot() returns it (torch/csrc/cuda/memory_snapshot.cpp)."""
    if config.backend == "cudaMallocAsync":
        raise RuntimeError("Calling snapshot with backend:cudaMallocAsync is not meaningful. (For backend:native, "
                           "snapshot returns a detailed summary of all blocks tracked by the allocator, but the "
                           "cudaMallocAsync backend does not track individual blocks.)")
    segments, traces = [], []
    for allocator in devices or []:
        traces.append(allocator.trace())  # before this snapshot's own "snapshot" entry, as in the real one
        segments.extend(allocator.snapshot())
    settings = {
        "PYTORCH_CUDA_ALLOC_CONF": config.text,
        "max_split_size": -1,  # SIZE_MAX as int64_t
        "garbage_collection_threshold": 0.0,
        "expandable_segments": config.expandable_segments,
        "pinned_num_register_threads": 1,
        "release_lock_on_cudamalloc": False,
        "pinned_use_cuda_host_register": False,
        "graph_capture_record_stream_reuse": False,
        "roundup_power2_divisions": {str(1 << index): 0 for index in range(16)},
    }
    return {"segments": segments, "device_traces": traces, "allocator_settings": settings,
            "external_annotations": []}
