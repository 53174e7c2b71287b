using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Cluster.Contracts.Api;
using Cluster.Testing;

namespace Cluster.Gateway.Tests.EndToEnd;

/// <summary>TLS needs no code of ours: Kestrel's standard <c>Kestrel:Endpoints:&lt;name&gt;:Certificate</c> settings serve gRPC over https.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task TheGatewayServesGrpcOverHttpsWithTheCertificateItsKestrelSettingsName()
    {
        using var folder = TempDirectory.Create("tls");
        using var certificate = SelfSigned();
        var pfx = Path.Combine(folder.Path, "gateway.pfx");
        const string password = "test-only";
        await File.WriteAllBytesAsync(pfx, certificate.Export(X509ContentType.Pkcs12, password));
        string? presented = null;
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // Trust exactly the test's certificate (it is in no trust store); remember what the server presented.
                RemoteCertificateValidationCallback = (_, served, _, _) =>
                {
                    presented = served?.GetCertHashString();
                    return presented == certificate.GetCertHashString();
                },
            },
        };

        await using var cluster = await ClusterUnderTest.StartAsync(silos: 1, stages: 1, kestrelFromSettings: true, clientHandler: handler, settings: new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Grpc:Url"] = "https://127.0.0.1:0",
            ["Kestrel:Endpoints:Grpc:Protocols"] = "Http2",
            ["Kestrel:Endpoints:Grpc:Certificate:Path"] = pfx,
            ["Kestrel:Endpoints:Grpc:Certificate:Password"] = password,
        });

        var models = await cluster.Client.ListModelsAsync(new ListModelsRequest());
        Assert.True(models.Models.Count == 1, $"ListModels over https: {models.Models.Count} models.");
        Assert.True(presented == certificate.GetCertHashString(), $"The server presented certificate {presented ?? "none"}; configured {certificate.GetCertHashString()}.");
        var (tokens, _) = await ShardedGenerationTests.GenerateAsync(cluster, new GenerateRequest { Text = "over TLS", Sampling = new SamplingParameters { Temperature = 0, MaxNewTokens = 3 } });
        Assert.Equal(3, tokens.Count);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server authentication
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }
}
