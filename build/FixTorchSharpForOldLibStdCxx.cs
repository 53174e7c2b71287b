// MSBuild inline task (RoslynCodeTaskFactory). For each libLibTorchSharp.so given, where the system
// libstdc++ lacks GLIBCXX_3.4.32:
//   1. rewrite its version-need entry GLIBCXX_3.4.32 to GLIBCXX_3.4.30 (same length; ELF hash updated),
//   2. patchelf --clear-symbol-version _ZSt21ios_base_library_initv (the one symbol that needed 3.4.32),
//   3. build a shim defining that symbol next to it, patchelf --add-needed it, rpath $ORIGIN.
// Idempotent: a library whose version needs no longer name GLIBCXX_3.4.32 is left alone.
using System;
using System.Diagnostics;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class FixTorchSharpForOldLibStdCxx : Task
{
    const string Wanted = "GLIBCXX_3.4.32";
    const string Available = "GLIBCXX_3.4.30";
    const string ShimName = "libios_base_library_init_shim.so";

    [Required] public ITaskItem[] Libraries { get; set; }
    [Required] public string ShimSource { get; set; }

    public override bool Execute()
    {
        string libStdCxx = FindSystemLibStdCxx();
        if (libStdCxx == null)
        {
            Log.LogMessage(MessageImportance.Low, "No system libstdc++.so.6 found; TorchSharp left as shipped.");
            return true;
        }
        if (Contains(File.ReadAllBytes(libStdCxx), Encoding.ASCII.GetBytes(Wanted)))
        {
            Log.LogMessage(MessageImportance.Low, libStdCxx + " provides " + Wanted + "; TorchSharp left as shipped.");
            return true;
        }
        foreach (ITaskItem item in Libraries)
        {
            string path = item.GetMetadata("FullPath");
            try
            {
                if (!RewriteVersionNeed(path)) continue;
                string dir = Path.GetDirectoryName(path);
                if (!Run("g++", "-shared -fPIC -O2 -o \"" + Path.Combine(dir, ShimName) + "\" \"" + ShimSource + "\"")) return false;
                if (!Run("patchelf", "--clear-symbol-version _ZSt21ios_base_library_initv --add-needed " + ShimName + " --set-rpath $ORIGIN \"" + path + "\"")) return false;
                Log.LogMessage(MessageImportance.High, "Patched " + path + " for " + libStdCxx + " (no " + Wanted + ").");
            }
            catch (Exception e)
            {
                Log.LogError("Could not patch " + path + " for the system libstdc++: " + e.Message);
                return false;
            }
        }
        return !Log.HasLoggedErrors;
    }

    static string FindSystemLibStdCxx()
    {
        foreach (string p in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6" })
            if (File.Exists(p)) return p;
        return null;
    }

    bool Run(string tool, string arguments)
    {
        var psi = new ProcessStartInfo("/bin/sh", "-c \"command -v " + tool + "\"") { RedirectStandardOutput = true, UseShellExecute = false };
        using (var probe = Process.Start(psi))
        {
            probe.WaitForExit();
            if (probe.ExitCode != 0)
            {
                Log.LogError("TorchSharp needs " + tool + " at build time on this system (its libstdc++ lacks " + Wanted + "): apt-get install -y g++ patchelf");
                return false;
            }
        }
        var start = new ProcessStartInfo(tool, arguments) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        using (var p = Process.Start(start))
        {
            string stderr = p.StandardError.ReadToEnd();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                Log.LogError(tool + " " + arguments + " failed (" + p.ExitCode + "): " + stderr);
                return false;
            }
        }
        return true;
    }

    // Walks ELF64 little-endian section headers to .gnu.version_r (SHT_GNU_verneed) and its string
    // table, and renames the Vernaux entry. Returns false when no entry names the wanted version.
    static bool RewriteVersionNeed(string path)
    {
        byte[] elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        bool changed = false;
        for (int i = 0; i < shnum; i++)
        {
            long sh = shoff + (long)i * shentsize;
            uint type = BitConverter.ToUInt32(elf, (int)sh + 4);
            if (type != 0x6ffffffe) continue; // SHT_GNU_verneed
            long offset = BitConverter.ToInt64(elf, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(elf, (int)sh + 0x28);
            long strOffset = BitConverter.ToInt64(elf, (int)(shoff + (long)link * shentsize) + 0x18);
            long need = offset;
            while (true)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)need + 2);
                uint aux = BitConverter.ToUInt32(elf, (int)need + 8);
                uint nextNeed = BitConverter.ToUInt32(elf, (int)need + 12);
                long a = need + aux;
                for (int j = 0; j < cnt; j++)
                {
                    uint name = BitConverter.ToUInt32(elf, (int)a + 8);
                    int at = (int)(strOffset + name);
                    if (Encoding.ASCII.GetString(elf, at, Wanted.Length) == Wanted && elf[at + Wanted.Length] == 0)
                    {
                        Encoding.ASCII.GetBytes(Available).CopyTo(elf, at);
                        BitConverter.GetBytes(ElfHash(Available)).CopyTo(elf, (int)a);
                        changed = true;
                    }
                    uint nextAux = BitConverter.ToUInt32(elf, (int)a + 12);
                    if (nextAux == 0) break;
                    a += nextAux;
                }
                if (nextNeed == 0) break;
                need += nextNeed;
            }
        }
        if (changed) File.WriteAllBytes(path, elf);
        return changed;
    }

    static uint ElfHash(string name)
    {
        uint h = 0;
        foreach (char c in name)
        {
            h = (h << 4) + c;
            uint g = h & 0xf0000000;
            if (g != 0) h ^= g >> 24;
            h &= ~g;
        }
        return h;
    }

    static bool Contains(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }
}
