//! `zkperp ceremony`: the trusted setup's phase 2 as a multi-party ceremony, in snarkjs' files
//! (docs/CEREMONY.md). Every step reads and writes files only, so a participant runs
//! `contribute` offline on their own machine and any step may be done with snarkjs instead.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use zkperp_circuits::batch::BatchCircuit;
use zkperp_circuits::exit::ExitCircuit;
use zkperp_prover::ceremony::contribute::{format_hash, participant_rng};
use zkperp_prover::ceremony::ptau::Ptau;
use zkperp_prover::ceremony::verify::verify;
use zkperp_prover::ceremony::zkey::Zkey;
use zkperp_prover::export;
use zkperp_prover::r1cs::R1cs;
use zkperp_state::batch::Shape;
use zkperp_state::state::StateConfig;

#[derive(Debug, clap::Args)]
pub struct CeremonyArgs {
    #[command(subcommand)]
    step: Step,
}

#[derive(Debug, clap::Subcommand)]
enum Step {
    /// Export a circuit of a deployment's configuration as a circom `.r1cs` file.
    R1cs {
        /// The state configuration (JSON, as `GET /v1/config` shows it).
        #[arg(long)]
        state_config: PathBuf,
        /// `exit`, or `batch` with --shape.
        #[arg(long)]
        circuit: String,
        /// The batch shape (with `--circuit batch`).
        #[arg(long)]
        shape: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a development phase 1 (prepared): one party's secrets, no contribution record. For
    /// tests and devnets only: its maker knows tau, and so the trapdoor of every key made from it.
    DevPhase1 {
        /// Its power: circuits of up to 2^power rows.
        #[arg(long)]
        power: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Compute a phase-1 `.ptau`'s Lagrange sections (`snarkjs powersoftau prepare phase2`).
    Prepare {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The initial `.zkey` of an `.r1cs` over a prepared `.ptau` (`snarkjs zkey new`); prints
    /// the circuit hash.
    New {
        #[arg(long)]
        r1cs: PathBuf,
        #[arg(long)]
        ptau: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Add your secret to a `.zkey` (`snarkjs zkey contribute`): from the OS's randomness and
    /// the entropy you type (or pipe); prints the contribution hash to publish.
    Contribute {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Your name in the transcript (at most 64 bytes).
        #[arg(long)]
        name: Option<String>,
        /// Entropy as an argument instead of from standard input (it lands in shell history:
        /// for tests).
        #[arg(long)]
        entropy: Option<String>,
    },
    /// The final contribution from a public random value named before the ceremony (`snarkjs
    /// zkey beacon`), e.g. an L1 block hash.
    Beacon {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// The beacon value, hex (1 to 255 bytes).
        #[arg(long)]
        hash: String,
        /// Log2 of the SHA-256 iterations applied to it (10 to 63).
        #[arg(long, default_value_t = 10)]
        iterations_exp: u8,
        #[arg(long)]
        name: Option<String>,
    },
    /// Check a transcript against its `.r1cs` and `.ptau` (`snarkjs zkey verify`); prints the
    /// circuit hash and every contribution's hash, and fails naming the check that failed.
    Verify {
        #[arg(long)]
        r1cs: PathBuf,
        #[arg(long)]
        ptau: PathBuf,
        #[arg(long)]
        zkey: PathBuf,
    },
    /// Write a `.zkey`'s verifying key as snarkjs JSON (`verification_key.json`) and as the
    /// Solidity verifier's constructor arguments (`verifier_args.json`); print the key hash a
    /// verifier deployed with it returns from `keyHash()`.
    Export {
        #[arg(long)]
        zkey: PathBuf,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn zkey(path: &Path) -> Result<Zkey> {
    Zkey::parse(&read(path)?).with_context(|| format!("{}", path.display()))
}

pub fn run(args: &CeremonyArgs) -> Result<()> {
    match &args.step {
        Step::R1cs {
            state_config,
            circuit,
            shape,
            out,
        } => {
            let text = std::fs::read_to_string(state_config)
                .with_context(|| format!("reading --state-config {}", state_config.display()))?;
            let config: StateConfig = serde_json::from_str(&text).with_context(|| {
                format!("--state-config {} is not valid", state_config.display())
            })?;
            config.validate()?;
            let config = Arc::new(config);
            let r1cs = match (circuit.as_str(), shape) {
                ("exit", None) => R1cs::synthesize(ExitCircuit::blank(config), false)?.0,
                ("batch", Some(shape)) => {
                    let shape: Shape =
                        shape.parse().map_err(|e: String| anyhow!("--shape: {e}"))?;
                    R1cs::synthesize(BatchCircuit::blank(config, shape)?, false)?.0
                }
                ("batch", None) => bail!("--circuit batch needs --shape"),
                ("exit", Some(_)) => bail!("--shape is for --circuit batch"),
                (other, _) => bail!("--circuit: `exit` or `batch`, not `{other}`"),
            };
            write(out, &r1cs.to_bytes())?;
            println!(
                "{}: {} constraints, {} wires, {} public inputs",
                out.display(),
                r1cs.constraints.len(),
                r1cs.wires,
                r1cs.public
            );
        }
        Step::DevPhase1 { power, out } => {
            let max = zkperp_prover::ceremony::ptau::MAX_PREPARE_POWER;
            if !(1..=max).contains(power) {
                bail!("--power: 1 to {max}");
            }
            let bytes = zkperp_prover::ceremony::ptau::development(*power, &mut rand::rngs::OsRng);
            write(out, &bytes)?;
            println!(
                "{}: a development phase 1 of power {power} (its maker knows tau: tests only)",
                out.display()
            );
        }
        Step::Prepare { input, out } => {
            let bytes = read(input)?;
            let ptau = Ptau::parse(&bytes).with_context(|| format!("{}", input.display()))?;
            if ptau.prepared() {
                bail!("{} is already prepared for phase 2", input.display());
            }
            write(out, &ptau.prepare()?)?;
            println!("{}: power {}", out.display(), ptau.power);
        }
        Step::New { r1cs, ptau, out } => {
            let r1cs = R1cs::parse(&read(r1cs)?).with_context(|| format!("{}", r1cs.display()))?;
            let ptau_bytes = read(ptau)?;
            let ptau = Ptau::parse(&ptau_bytes).with_context(|| format!("{}", ptau.display()))?;
            let key = Zkey::new(&r1cs, &ptau)?;
            write(out, &key.to_bytes())?;
            println!("Circuit Hash:\n{}", format_hash(&key.cs_hash));
        }
        Step::Contribute {
            input,
            out,
            name,
            entropy,
        } => {
            let mut key = zkey(input)?;
            let entropy = match entropy {
                Some(text) => text.clone(),
                None => {
                    eprintln!("Type random text (your entropy), then Enter and Ctrl-D:");
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading entropy from standard input")?;
                    text
                }
            };
            if entropy.trim().is_empty() {
                bail!("no entropy: type some random text (the OS's randomness is mixed in too)");
            }
            let hash = key.contribute(&mut participant_rng(entropy.as_bytes()), name.as_deref())?;
            write(out, &key.to_bytes())?;
            println!("Contribution Hash:\n{}", format_hash(&hash));
        }
        Step::Beacon {
            input,
            out,
            hash,
            iterations_exp,
            name,
        } => {
            let value = hex::decode(hash.trim_start_matches("0x"))
                .map_err(|e| anyhow!("--hash is not hex: {e}"))?;
            let mut key = zkey(input)?;
            let hash = key.beacon(&value, *iterations_exp, name.as_deref())?;
            write(out, &key.to_bytes())?;
            println!("Contribution Hash:\n{}", format_hash(&hash));
        }
        Step::Verify {
            r1cs,
            ptau,
            zkey: path,
        } => {
            let r1cs = R1cs::parse(&read(r1cs)?).with_context(|| format!("{}", r1cs.display()))?;
            let ptau_bytes = read(ptau)?;
            let ptau = Ptau::parse(&ptau_bytes).with_context(|| format!("{}", ptau.display()))?;
            let key = zkey(path)?;
            let verified = verify(&r1cs, &ptau, &key)?;
            println!("Circuit Hash:\n{}", format_hash(&verified.cs_hash));
            for (i, c) in verified.contributions.iter().enumerate() {
                println!(
                    "contribution #{} {}{}:\n{}",
                    i + 1,
                    c.name.as_deref().unwrap_or(""),
                    if c.beacon { " (beacon)" } else { "" },
                    format_hash(&c.hash)
                );
            }
            if verified.contributions.is_empty() {
                println!("WARNING: no contribution: whoever made this key knows its trapdoor");
            } else if !verified.contributions.last().is_some_and(|c| c.beacon) {
                println!("WARNING: the last contribution is not a beacon");
            }
            println!("the transcript verifies");
        }
        Step::Export {
            zkey: path,
            out_dir,
        } => {
            let vk = zkey(path)?.verifying_key();
            std::fs::create_dir_all(out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            write(
                &out_dir.join("verification_key.json"),
                serde_json::to_string_pretty(&export::snarkjs_verifying_key(&vk))?.as_bytes(),
            )?;
            write(
                &out_dir.join("verifier_args.json"),
                serde_json::to_string_pretty(&export::evm_verifying_key(&vk))?.as_bytes(),
            )?;
            let hash = zkperp_contracts::VerifierKey::from_json(&serde_json::to_value(
                export::evm_verifying_key(&vk),
            )?)?
            .hash();
            println!(
                "{}: verification_key.json, verifier_args.json",
                out_dir.display()
            );
            // What the deployed verifier's keyHash() returns for this key.
            println!("key hash: 0x{}", hex::encode(hash));
        }
    }
    Ok(())
}
