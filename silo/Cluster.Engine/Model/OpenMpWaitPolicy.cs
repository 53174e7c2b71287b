using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Cluster.Engine.Model;

/// <summary>
/// Makes libtorch's OpenMP threads sleep, not spin, after each parallel region, unless the environment already
/// says otherwise. libgomp's default keeps each worker spinning for a while after every libtorch op; on a
/// machine with as many threads as cores, that spinning takes the cores away from <see cref="Cluster.Kernels.LinearKernel"/>'s
/// workers (and their spinning takes them from libtorch). Measured on the 2-core machine of issue #12, 49
/// matrices of its model each preceded by a multi-threaded element-wise op: 339-931 ms with libgomp's default
/// against 36 ms with OMP_WAIT_POLICY=PASSIVE (the kernels alone: 40-61 ms; noisy, other builds running).
/// libgomp reads the variable once, when libtorch is loaded, through the C library's environment, which
/// .NET's Environment.SetEnvironmentVariable does not change on Linux: hence setenv, from the engine's module
/// initializer, which runs before the engine first touches TorchSharp.
/// </summary>
internal static partial class OpenMpWaitPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";

    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "It must run before any engine code loads libtorch, whichever host calls the engine first.")]
    internal static void PreferPassive()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(Variable) is not null)
        {
            return; // set by the operator: theirs wins
        }
        _ = SetEnvironment(Variable, "PASSIVE", overwrite: 0);
        Environment.SetEnvironmentVariable(Variable, "PASSIVE"); // so .NET's view agrees with the C library's
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnvironment(string name, string value, int overwrite);
}
