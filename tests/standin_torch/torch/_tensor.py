"""torch/_tensor.py — stands in for PyTorch's tensors: torch.Tensor and its storage (ATen and c10,
C++ in the real torch), the factory functions, the operations a small training loop needs, and
autograd's bookkeeping.

Tensors carry no data. A tensor is a shape, a dtype and a device; on a CUDA device its storage is a
block of numel * itemsize bytes from the caching allocator (torch/_caching_allocator.py), given back
when the last tensor using it dies (views share it; `del`, rebinding and the garbage collector
release it, through weakref.finalize). Every operation gives a result of the right shape, allocated
on the device as the real kernel's output would be; values read back (.item()) are 0. Creating a
CUDA tensor first runs torch.cuda._lazy_init(), as the real bindings do.

Autograd keeps what the real one keeps: a result that requires grad holds its inputs (its saved
tensors) until backward() frees them (unless retain_graph=True). backward() allocates the implicit
gradient of the output, one gradient buffer per intermediate result (freed as the pass moves on),
and a .grad for each leaf that requires grad (accumulated in place once it exists). Result dtypes
follow the first floating-point operand (no full type promotion); strides are not modelled.
"""
import builtins
import itertools
import math
import threading
import weakref

import torch
from torch import _caching_allocator as _allocator

_allocator.register_native_file(__file__)
_allocator.register_native_file(weakref.__file__)  # weakref.finalize runs the storage's deleter (C++ in torch)


# ---- dtypes, sizes, devices ------------------------------------------------------------------

class dtype:
    def __init__(self, name, itemsize, is_floating_point):
        self.name, self.itemsize, self.is_floating_point = name, itemsize, is_floating_point

    def __repr__(self):
        return "torch." + self.name


float32 = dtype("float32", 4, True)
float64 = dtype("float64", 8, True)
float16 = dtype("float16", 2, True)
bfloat16 = dtype("bfloat16", 2, True)
int64 = dtype("int64", 8, False)
int32 = dtype("int32", 4, False)
int16 = dtype("int16", 2, False)
int8 = dtype("int8", 1, False)
uint8 = dtype("uint8", 1, False)
bool_ = dtype("bool", 1, False)

_default_dtype = float32


def get_default_dtype():
    return _default_dtype


def set_default_dtype(d):
    global _default_dtype
    _default_dtype = d


class Size(tuple):
    def __repr__(self):
        return f"torch.Size({list(self)})"

    def numel(self):
        return math.prod(self)


class device:
    def __init__(self, type, index=None):
        if isinstance(type, device):
            self.type, self.index = type.type, type.index
            return
        if isinstance(type, builtins.int):
            type, index = "cuda", type
        text = str(type)
        if ":" in text:
            text, _, number = text.partition(":")
            if index is not None or not number.isdigit():
                raise RuntimeError(f"Invalid device string: '{type}'")
            index = builtins.int(number)
        if text not in ("cpu", "cuda", "meta"):
            raise RuntimeError(f"Expected one of cpu, cuda, meta device type at start of device string: {type}")
        self.type, self.index = text, index

    def __eq__(self, other):
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __repr__(self):
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"


_cpu = device("cpu")


def _as_device(value):
    if value is None:
        return _cpu
    return value if isinstance(value, device) else device(value)


# ---- grad mode -------------------------------------------------------------------------------

_grad_state = threading.local()


def is_grad_enabled():
    return getattr(_grad_state, "enabled", True)


class set_grad_enabled:
    def __init__(self, mode):
        self.previous = is_grad_enabled()
        _grad_state.enabled = builtins.bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _grad_state.enabled = self.previous
        return False


class no_grad:
    """Context manager and decorator that disables gradient recording."""

    def __enter__(self):
        self.previous = is_grad_enabled()
        _grad_state.enabled = False
        return self

    def __exit__(self, *exc):
        _grad_state.enabled = self.previous
        return False

    def __call__(self, function):
        def wrapper(*args, **kwargs):
            with self.__class__():
                return function(*args, **kwargs)
        return wrapper


class enable_grad(no_grad):
    def __enter__(self):
        self.previous = is_grad_enabled()
        _grad_state.enabled = True
        return self


inference_mode = no_grad


# ---- storage ---------------------------------------------------------------------------------

def _release(handle):
    try:
        _allocator.free(handle)
    except Exception:  # at interpreter shutdown, the allocator may be gone already
        pass


class _Storage:
    """The bytes behind one or more tensors: an allocator block on a CUDA device, nothing on the CPU."""

    def __init__(self, nbytes, dev):
        self._nbytes, self.device, self.handle = nbytes, dev, None
        if dev.type == "cuda":
            self.handle = _allocator.malloc(nbytes, dev.index)
            if self.handle is not None:
                weakref.finalize(self, _release, self.handle).atexit = False

    def data_ptr(self):
        return self.handle.ptr if self.handle is not None else 0

    def nbytes(self):
        return self._nbytes

    def size(self):
        return self._nbytes


def _cuda_device_for_allocation(dev):
    """device_lazy_init(kCUDA) and the current device for 'cuda' without an index."""
    import torch.cuda
    torch.cuda._lazy_init()
    if dev.index is None:
        dev = device("cuda", torch._C._cuda_getDevice())
    return dev


class _Node:
    """A grad_fn: names the operation that made a tensor."""

    def __init__(self, name):
        self._name = name

    def name(self):
        return self._name

    def __repr__(self):
        return f"<{self._name} object at {id(self):#x}>"


# ---- tensors ---------------------------------------------------------------------------------

def _size_from(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    shape = tuple(builtins.int(s) for s in args)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(shape)}")
    return shape


def _broadcast(a, b):
    result = []
    for position, (x, y) in enumerate(itertools.zip_longest(reversed(a), reversed(b), fillvalue=1)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) "
                               f"at non-singleton dimension {max(len(a), len(b)) - 1 - position}")
        result.append(y if x == 1 else x)
    return tuple(reversed(result))


def _dim_index(dim, ndim):
    if dim < 0:
        dim += ndim
    if not 0 <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], but got {dim})")
    return dim


class Tensor:
    """A tensor without data (see the module's comment)."""

    @classmethod
    def _make(cls, shape, dt, dev, storage=None, offset=0):
        tensor = object.__new__(cls)
        tensor._shape, tensor._dtype, tensor._device = Size(shape), dt, dev
        tensor._offset = offset
        if storage is None:
            storage = _Storage(math.prod(shape) * dt.itemsize, dev)
        tensor._storage = storage
        tensor.requires_grad = False
        tensor.grad = None
        tensor.grad_fn = None
        tensor._inputs = None
        return tensor

    @classmethod
    def _allocate(cls, shape, dt=None, dev=None, requires_grad=False):
        dt = dt or _default_dtype
        dev = _as_device(dev)
        if dev.type == "cuda":
            dev = _cuda_device_for_allocation(dev)
        tensor = cls._make(shape, dt, dev)
        tensor.requires_grad = builtins.bool(requires_grad)
        return tensor

    def _alias_of(self, other):
        """Makes self use other's storage, shape, dtype and device (`.data = other`)."""
        self._shape, self._dtype, self._device = other._shape, other._dtype, other._device
        self._storage, self._offset = other._storage, other._offset

    # -- results and autograd

    def _result(self, shape, inputs, name, dt=None, view=False):
        dt = dt or self._dtype
        if view:
            result = Tensor._make(shape, dt, self._device, self._storage, self._offset)
        else:
            result = Tensor._make(shape, dt, self._device)
        if is_grad_enabled() and any(t.requires_grad for t in inputs):
            result.requires_grad = True
            result.grad_fn = _Node(name)
            result._inputs = tuple(inputs)
        return result

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        if not self.requires_grad:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None and self.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        order, seen, stack = [], set(), [(self, False)]
        while stack:  # post-order over the graph, then reversed: outputs before their inputs
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            if node.grad_fn is not None and node._inputs is None:
                raise RuntimeError(
                    "Trying to backward through the graph a second time (or directly access saved tensors after "
                    "they have already been freed). Saved intermediate values of the graph are freed when you call "
                    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
                    "graph a second time or if you need to access saved tensors after calling backward.")
            stack.append((node, True))
            for parent in node._inputs or ():
                if parent.requires_grad:
                    stack.append((parent, False))
        order.reverse()
        with no_grad():
            buffers = {id(self): gradient if gradient is not None else ones_like(self)}
            for node in order:
                incoming = buffers.pop(id(node), None)
                if node.grad_fn is None:  # a leaf: AccumulateGrad keeps the incoming buffer as .grad
                    if node.grad is None:
                        node.grad = incoming
                    else:
                        node.grad.add_(incoming)
                    continue
                for parent in node._inputs:
                    if parent.requires_grad and id(parent) not in buffers:
                        buffers[id(parent)] = empty_like(parent)
                del incoming  # this node's gradient buffer is freed here
        if not retain_graph:
            for node in order:
                if node.grad_fn is not None:
                    node._inputs = None

    def detach(self):
        return Tensor._make(self._shape, self._dtype, self._device, self._storage, self._offset)

    def detach_(self):
        self.grad_fn, self._inputs, self.requires_grad = None, None, False
        return self

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        pass

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def data(self):
        return self.detach()

    @data.setter
    def data(self, other):
        self._alias_of(other)

    # -- attributes

    @property
    def shape(self):
        return self._shape

    def size(self, dim=None):
        return self._shape if dim is None else self._shape[_dim_index(dim, self.dim())]

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self):
        return self._device.type == "cuda"

    def get_device(self):
        return self._device.index if self.is_cuda else -1

    def dim(self):
        return len(self._shape)

    ndim = property(dim)

    def numel(self):
        return math.prod(self._shape)

    nelement = numel

    def element_size(self):
        return self._dtype.itemsize

    @property
    def itemsize(self):
        return self._dtype.itemsize

    @property
    def nbytes(self):
        return self.numel() * self._dtype.itemsize

    def data_ptr(self):
        return self._storage.data_ptr() + self._offset if self._storage.data_ptr() else 0

    def untyped_storage(self):
        return self._storage

    def is_contiguous(self, memory_format=None):
        return True

    def contiguous(self, memory_format=None):
        return self

    def __repr__(self):
        where = f", device='{self._device}'" if self.is_cuda else ""
        grad = f", grad_fn=<{self.grad_fn.name()}>" if self.grad_fn is not None else ""
        return f"tensor(<{list(self._shape)}, {self._dtype}>{where}{grad})"

    # -- values (there are none: every element reads as 0)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        if self._dtype is bool_:
            return False
        return 0.0 if self._dtype.is_floating_point else 0

    def tolist(self):
        def zeros(shape):
            return self.item() if not shape else [zeros(shape[1:]) for _ in range(shape[0])]
        return zeros(tuple(self._shape)) if self._shape else (0.0 if self._dtype.is_floating_point else 0)

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return builtins.bool(self.item())

    def __float__(self):
        return builtins.float(self.item())

    def __int__(self):
        return builtins.int(self.item())

    def __index__(self):
        return builtins.int(self.item())

    def __format__(self, spec):
        return format(self.item(), spec) if self.dim() == 0 else object.__format__(self, spec)

    def __len__(self):
        if self.dim() == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    __hash__ = object.__hash__

    # -- conversions

    def to(self, *args, **kwargs):
        dev, dt = self._device, self._dtype
        for arg in list(args) + [kwargs.get("device"), kwargs.get("dtype")]:
            if arg is None or isinstance(arg, builtins.bool):
                continue
            if isinstance(arg, dtype):
                dt = arg
            elif isinstance(arg, Tensor):
                dev, dt = arg._device, arg._dtype
            else:
                dev = _as_device(arg)
        if dev.type == "cuda":
            dev = _cuda_device_for_allocation(dev)
        if dev == self._device and dt is self._dtype and not kwargs.get("copy", False):
            return self
        result = Tensor._make(self._shape, dt, dev)
        if is_grad_enabled() and self.requires_grad:
            result.requires_grad, result.grad_fn, result._inputs = True, _Node("ToCopyBackward0"), (self,)
        return result

    def cuda(self, device=None, non_blocking=False):
        if device is None:
            device = "cuda"
        elif isinstance(device, builtins.int):
            device = f"cuda:{device}"
        return self.to(device)

    def cpu(self):
        return self.to("cpu")

    def float(self):
        return self.to(float32)

    def double(self):
        return self.to(float64)

    def half(self):
        return self.to(float16)

    def bfloat16(self):
        return self.to(bfloat16)

    def long(self):
        return self.to(int64)

    def int(self):
        return self.to(int32)

    def bool(self):
        return self.to(bool_)

    def type_as(self, other):
        return self.to(other._dtype)

    def clone(self, memory_format=None):
        return self._result(self._shape, (self,), "CloneBackward0")

    def new_empty(self, size, dtype=None, device=None, requires_grad=False):
        return Tensor._allocate(_size_from((size,)), dtype or self._dtype, device or self._device, requires_grad)

    new_zeros = new_ones = new_empty

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return self.new_empty(size, dtype, device, requires_grad)

    # -- element-wise operations (a new tensor of the broadcast shape)

    def _operand_check(self, other):
        if isinstance(other, Tensor) and other._device != self._device and other.dim() > 0 and self.dim() > 0:
            raise RuntimeError("Expected all tensors to be on the same device, but found at least two devices, "
                               f"{self._device} and {other._device}!")

    def _binary(self, other, name):
        self._operand_check(other)
        if not isinstance(other, Tensor):
            return self._result(self._shape, (self,), name)
        dt = self._dtype
        if not dt.is_floating_point and other._dtype.is_floating_point:
            dt = other._dtype
        host = self if self.dim() > 0 or other.dim() == 0 else other  # a 0-d CPU tensor goes with the other
        return host._result(_broadcast(self._shape, other._shape), (self, other), name, dt)

    def _compare(self, other):
        shape = _broadcast(self._shape, other._shape) if isinstance(other, Tensor) else self._shape
        self._operand_check(other)
        return Tensor._make(shape, bool_, self._device)

    def __add__(self, other):
        return self._binary(other, "AddBackward0")

    def __sub__(self, other):
        return self._binary(other, "SubBackward0")

    def __mul__(self, other):
        return self._binary(other, "MulBackward0")

    def __truediv__(self, other):
        return self._binary(other, "DivBackward0")

    def __pow__(self, other):
        return self._binary(other, "PowBackward0")

    __radd__, __rmul__ = __add__, __mul__

    def __rsub__(self, other):
        return self._binary(other, "RsubBackward1")

    def __rtruediv__(self, other):
        return self._binary(other, "DivBackward0")

    def __neg__(self):
        return self._result(self._shape, (self,), "NegBackward0")

    def __eq__(self, other):
        return self._compare(other)

    def __ne__(self, other):
        return self._compare(other)

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    add, sub, mul, div, pow = __add__, __sub__, __mul__, __truediv__, __pow__
    eq = ne = lt = le = gt = ge = __eq__

    def _unary(name):
        def operation(self, *args, **kwargs):
            return self._result(self._shape, (self,), name)
        return operation

    relu = _unary("ReluBackward0")
    sigmoid = _unary("SigmoidBackward0")
    tanh = _unary("TanhBackward0")
    exp = _unary("ExpBackward0")
    log = _unary("LogBackward0")
    sqrt = _unary("SqrtBackward0")
    abs = _unary("AbsBackward0")
    neg = __neg__
    clamp = _unary("ClampBackward1")
    softmax = _unary("SoftmaxBackward0")
    log_softmax = _unary("LogSoftmaxBackward0")
    del _unary

    # -- in-place operations (no allocation)

    def _in_place(self, *others, **kwargs):
        for other in others:
            if isinstance(other, Tensor):
                self._operand_check(other)
                if _broadcast(self._shape, other._shape) != tuple(self._shape):
                    raise RuntimeError(f"output with shape {list(self._shape)} doesn't match the broadcast shape "
                                       f"{list(_broadcast(self._shape, other._shape))}")
        return self

    add_ = sub_ = mul_ = div_ = copy_ = fill_ = lerp_ = addcmul_ = addcdiv_ = clamp_ = _in_place
    zero_ = normal_ = uniform_ = relu_ = sqrt_ = _in_place

    def __iadd__(self, other):
        return self._in_place(other)

    __isub__ = __imul__ = __itruediv__ = __iadd__

    # -- reductions

    def _reduce(self, dim, keepdim, name, dt=None):
        if dim is None:
            return self._result((), (self,), name, dt)
        dims = {_dim_index(d, self.dim()) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = [1 if i in dims else s for i, s in enumerate(self._shape) if keepdim or i not in dims]
        return self._result(tuple(shape), (self,), name, dt)

    def sum(self, dim=None, keepdim=False, dtype=None):
        return self._reduce(dim, keepdim, "SumBackward0", dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        return self._reduce(dim, keepdim, "MeanBackward0", dtype)

    def norm(self, p="fro", dim=None, keepdim=False):
        return self._reduce(dim, keepdim, "NormBackward0")

    def argmax(self, dim=None, keepdim=False):
        return self._reduce(dim, keepdim, "ArgmaxBackward0", int64)

    # -- matrix products

    def matmul(self, other):
        if self.dim() == 0 or other.dim() == 0:
            raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                               f"{self.dim()}D and {other.dim()}D")
        self._operand_check(other)
        a = tuple(self._shape) if self.dim() > 1 else (1,) + tuple(self._shape)
        b = tuple(other._shape) if other.dim() > 1 else tuple(other._shape) + (1,)
        if a[-1] != b[-2]:
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({a[-2]}x{a[-1]} and {b[-2]}x{b[-1]})")
        shape = list(_broadcast(a[:-2], b[:-2])) + [a[-2], b[-1]]
        if other.dim() == 1:
            del shape[-1]
        if self.dim() == 1:
            del shape[-2 if other.dim() > 1 else -1]
        return self._result(tuple(shape), (self, other), "MmBackward0")

    __matmul__ = mm = bmm = matmul

    # -- views (share the storage; no allocation)

    def _view(self, shape, name="ViewBackward0", offset=0):
        result = self._result(tuple(shape), (self,), name, view=True)
        result._offset = self._offset + offset
        return result

    def _reshaped(self, wanted):
        asked = list(wanted)
        if -1 in wanted:
            known = math.prod(s for s in wanted if s != -1)
            wanted[wanted.index(-1)] = self.numel() // known if known else 0
        if math.prod(wanted) != self.numel():
            raise RuntimeError(f"shape '{asked}' is invalid for input of size {self.numel()}")
        return self._view(wanted)

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return self._reshaped([builtins.int(s) for s in shape])

    view = reshape

    def flatten(self, start_dim=0, end_dim=-1):
        if self.dim() == 0:
            return self._view((1,))
        start, end = _dim_index(start_dim, self.dim()), _dim_index(end_dim, self.dim())
        shape = list(self._shape[:start]) + [math.prod(self._shape[start:end + 1])] + list(self._shape[end + 1:])
        return self._view(shape)

    def unsqueeze(self, dim):
        shape = list(self._shape)
        shape.insert(_dim_index(dim, self.dim() + 1), 1)
        return self._view(shape)

    def squeeze(self, dim=None):
        if dim is None:
            return self._view([s for s in self._shape if s != 1])
        index = _dim_index(dim, self.dim())
        return self._view([s for i, s in enumerate(self._shape) if i != index or s != 1])

    def transpose(self, dim0, dim1):
        shape = list(self._shape)
        i, j = _dim_index(dim0, self.dim()), _dim_index(dim1, self.dim())
        shape[i], shape[j] = shape[j], shape[i]
        return self._view(shape, "TransposeBackward0")

    def t(self):
        return self if self.dim() < 2 else self.transpose(0, 1)

    @property
    def T(self):
        return self._view(tuple(reversed(self._shape)), "PermuteBackward0")

    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        return self._view([self._shape[_dim_index(d, self.dim())] for d in dims], "PermuteBackward0")

    def expand(self, *sizes):
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = sizes[0]
        lead = len(sizes) - self.dim()
        target = [self._shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)]
        return self._view(_broadcast(self._shape, target), "ExpandBackward0")

    def __getitem__(self, index):
        if not isinstance(index, tuple):
            index = (index,)
        shape, offset, dim = [], 0, 0
        stride = [math.prod(self._shape[i + 1:]) for i in range(self.dim())]
        for item in index:
            if item is None:
                shape.append(1)
            elif item is Ellipsis:
                rest = self.dim() - dim - builtins.sum(1 for i in index if i is not None and i is not Ellipsis)
                shape.extend(self._shape[dim:dim + rest + 1])
                dim += rest + 1
            elif isinstance(item, builtins.slice):
                start, stop, step = item.indices(self._shape[dim])
                shape.append(len(range(start, stop, step)))
                offset += start * stride[dim]
                dim += 1
            else:
                position = builtins.int(item)
                if not -self._shape[dim] <= position < self._shape[dim]:
                    raise IndexError(f"index {position} is out of bounds for dimension {dim} with size "
                                     f"{self._shape[dim]}")
                offset += (position % self._shape[dim]) * stride[dim]
                dim += 1
        shape.extend(self._shape[dim:])
        return self._view(shape, "SelectBackward0", offset * self._dtype.itemsize)


# ---- factories and functions -----------------------------------------------------------------

def empty(*size, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False, memory_format=None,
          out=None):
    return Tensor._allocate(_size_from(size), dtype, device, requires_grad)


zeros = ones = randn = rand = empty


def full(size, fill_value, dtype=None, device=None, requires_grad=False, **kwargs):
    return Tensor._allocate(_size_from((size,)), dtype, device, requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False, **kwargs):
    if size is None:
        size, high = high, low
    return Tensor._allocate(_size_from((size,)), dtype or int64, device, requires_grad)


def empty_like(tensor, dtype=None, device=None, requires_grad=False, **kwargs):
    return Tensor._allocate(tensor._shape, dtype or tensor._dtype, device or tensor._device, requires_grad)


zeros_like = ones_like = randn_like = rand_like = empty_like


def full_like(tensor, fill_value, dtype=None, device=None, requires_grad=False, **kwargs):
    return empty_like(tensor, dtype, device, requires_grad)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    shape, values = [], [data]
    while values and isinstance(values[0], (list, tuple)):
        shape.append(len(values[0]))
        values = [v for value in values for v in value]
    if dtype is None:
        if values and all(isinstance(v, builtins.bool) for v in values):
            dtype = bool_
        elif values and all(isinstance(v, builtins.int) for v in values):
            dtype = int64
        else:
            dtype = _default_dtype
    return Tensor._allocate(tuple(shape), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False, **kwargs):
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = int64 if all(isinstance(v, builtins.int) for v in (start, end, step)) else _default_dtype
    return Tensor._allocate((max(0, math.ceil((end - start) / step)),), dtype, device, requires_grad)


def cat(tensors, dim=0):
    tensors = list(tensors)
    first = tensors[0]
    axis = _dim_index(dim, first.dim())
    shape = list(first._shape)
    shape[axis] = builtins.sum(t._shape[axis] for t in tensors)
    return first._result(tuple(shape), tensors, "CatBackward0")


def stack(tensors, dim=0):
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def matmul(a, b):
    return a.matmul(b)


mm = bmm = matmul


def _function(name):
    def function(tensor, *args, **kwargs):
        return getattr(Tensor, name)(tensor, *args, **kwargs)
    function.__name__ = name
    return function


for _name in ("add", "sub", "mul", "div", "pow", "sum", "mean", "relu", "sigmoid", "tanh", "exp", "log", "sqrt",
              "abs", "neg", "clamp", "softmax", "log_softmax", "flatten", "reshape", "transpose", "squeeze",
              "unsqueeze", "permute", "argmax", "clone", "detach", "norm", "t"):
    globals()[_name] = _function(_name)
del _name


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(tensor):
    return tensor.numel()


__all__ = [
    "dtype", "Size", "device", "Tensor", "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "get_default_dtype", "set_default_dtype", "is_grad_enabled", "set_grad_enabled", "no_grad",
    "enable_grad", "inference_mode", "empty", "zeros", "ones", "randn", "rand", "full", "randint", "empty_like",
    "zeros_like", "ones_like", "randn_like", "rand_like", "full_like", "tensor", "arange", "cat", "stack", "matmul",
    "mm", "bmm", "add", "sub", "mul", "div", "pow", "sum", "mean", "relu", "sigmoid", "tanh", "exp", "log", "sqrt",
    "abs", "neg", "clamp", "softmax", "log_softmax", "flatten", "reshape", "transpose", "squeeze", "unsqueeze",
    "permute", "argmax", "clone", "detach", "norm", "t", "is_tensor", "numel",
]
